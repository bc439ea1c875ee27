/*
 * Native fuzz and race-check builds compile armvmm code that needs the arm64 KVM
 * uapi (register ids, vGIC attribute groups) on an x86_64 host: these route
 * <asm/kvm.h> to the arm64 copy Debian's linux-libc-dev:arm64 installs.
 */
#include <aarch64-linux-gnu/asm/kvm.h>
