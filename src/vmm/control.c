/* placeholder until the control socket lands (wt-ctl) */
#include <string.h>
#include "vmm/control.h"
bool control_name_valid(const char *name) { return name && *name && *name != '.' && strlen(name) <= CONTROL_NAME_MAX; }
