# kvmtool parity tests, as a fragment for suite.sh to source after lib.sh (it needs
# $ARMVMM, $GUESTS, $TMPDIR, and $ic, $hgic from suite.sh):
#
#   parity_tests		the help form, a kvmtool harness's invocation, the ITS, the PMU
#   pmu_tests SUFFIX [ARGS...]	only the PMU guest (what the icount payload runs)
#
# Results are named help-*, harness-*, its-*, pmu-*.

# _pscript NAME: the script text from stdin into $TMPDIR/NAME.script; prints the path.
_pscript() {
	cat > "$TMPDIR/$1.script"
	echo "$TMPDIR/$1.script"
}

# --- usage in kvmtool's form ------------------------------------------------------------
_parity_help() {
	for _form in none --help help; do
		OUT="$TMPDIR/help-$_form.out" WHY=""
		if [ "$_form" = none ]; then "$ARMVMM" > "$OUT" 2>&1; else "$ARMVMM" "$_form" > "$OUT" 2>&1; fi
		RC=$?
		want_rc 0
		want "usage: armvmm COMMAND [ARGS]" "The most commonly used armvmm commands are:" \
			"See 'armvmm help COMMAND'"
		for _c in run restore list pause resume stop snapshot; do
			grep -q "^   $_c  *[A-Z]" "$OUT" || why "no line for the command '$_c' under the commands line"
		done
		verdict "help-kvmtool-form-$_form"
	done
	# Each command keeps its own help, and "armvmm help COMMAND" is that help.
	OUT="$TMPDIR/help-commands.out" WHY=""
	: > "$OUT"
	for _c in run restore pause snapshot; do
		"$ARMVMM" "$_c" --help > "$TMPDIR/help-own.out" 2>&1 || why "'armvmm $_c --help' failed"
		"$ARMVMM" help "$_c" > "$TMPDIR/help-via.out" 2>&1 || why "'armvmm help $_c' failed"
		grep -q "^usage: armvmm $_c" "$TMPDIR/help-own.out" || why "'armvmm $_c --help' has no usage line"
		cmp -s "$TMPDIR/help-own.out" "$TMPDIR/help-via.out" || why "'armvmm help $_c' differs from 'armvmm $_c --help'"
		cat "$TMPDIR/help-own.out" >> "$OUT"
	done
	RC=0
	verdict "help-per-command"
}

# --- a kvmtool harness's invocation ----------------------------------------------------------
# cmdline.bin checks that /chosen/bootargs is exactly --params (blanks and quotes included).
_harness_params() {
	_base='cmdline ipi  smp=2 -x "q" cmdline.argc=7 cmdline.len='
	HP="$_base$((${#_base} + 2))"
}

# _harness NAME CPUS [ARGS...]: the options kvm-unit-tests' kvmtool runner passes, plus ARGS.
_harness() {
	_hn=$1 _hc=$2
	shift 2
	_harness_params
	boot "harness-$_hn" 60 -- run --nodefaults --network mode=none --loglevel=warning \
		--kernel "$GUESTS/cmdline.bin" --cpus "$_hc" --params "$HP" "$@"
	want_rc 0
	want "cmdline: bootargs=[$HP]" "cmdline: argc=7 len=${#HP} verbatim ok"
	want_none "FAIL"
	want_none "armvmm: error"
	verdict "harness-$_hn"
}

_parity_harness() {
	if [ "$hgic" = v3 ]; then
		_harness gicv3 2 --irqchip=gicv3
		_harness gicv3-its-pmu 4 --irqchip=gicv3-its --pmu --mem 128
		# kvmtool's gicv2 on a GICv3-only host: the userspace model (with its warning line).
		_harness gicv2 1 --irqchip=gicv2 --mem 64
	else
		_harness gicv2 2 --irqchip=gicv2
		_harness gicv2-pmu 4 --irqchip=gicv2 --pmu --mem 128
	fi
	_harness default-irqchip 1
	# Without --nodefaults armvmm keeps its default console arguments in front.
	_harness_params
	boot "harness-defaults-kept" 60 -- run -k "$GUESTS/cmdline.bin" -p "$HP"
	want_rc 3
	want "cmdline: bootargs=[console=ttyS0 earlycon $HP]" "not 'cmdline': something was put in front"
	verdict "harness-defaults-kept"
}

# --- the GICv3 ITS ------------------------------------------------------------------------------
# its.bin's script: answer its two MSI requests (device 32, event 2), and between them do $1
# ("" for nothing, "migrate", or "snapshot DIR") before sending 'g'.
_its_script() {
	_pscript "its-$2" <<EOS
timeout 120
wait its: msi wanted: device 32 event 2
msi 32 2
wait its: ready
$1
send g
wait its: msi wanted: device 32 event 2
msi 32 2
wait its: all ok
expect-exit 0
EOS
}

_its_want() {
	want "its: int ok (LPI 8192 on cpu 0, LPI 8193 on cpu 1)" "its: msi ok (LPI 8194 on cpu 1)" "its: ready" \
		"its: int after g ok" "its: pending lpi ok (LPI 8195 on cpu 0 once enabled)" "its: all ok"
	[ "$(grep -c 'its: msi ok' "$OUT")" = 2 ] || why "expected two MSIs delivered"
	want_none "FAIL"
}

_parity_its() {
	if [ "$hgic" != v3 ]; then
		check_error "its-not-on-gicv2-host" "cannot provide an in-kernel GICv3" -- \
			run -k "$GUESTS/its.bin" --irqchip gicv3-its
		return 0
	fi
	s=$(_its_script "" plain)
	boot "its-int-msi" 120 -- run -k "$GUESTS/its.bin" -c 2 --irqchip gicv3-its --script "$s"
	want_rc 0
	_its_want
	verdict "its-int-msi"

	s=$(_its_script migrate migrate)
	boot "its-migrate" 180 -- run -k "$GUESTS/its.bin" -c 2 --irqchip gicv3-its --script "$s" --loglevel info
	want_rc 0
	_its_want
	_migrated 1
	want "in-kernel GICv3 with ITS"
	verdict "its-migrate"

	# A snapshot the VM runs on from, restored again in a new armvmm: the mapping is in it.
	_d="$TMPDIR/its-snap"
	rm -rf "$_d"
	s=$(_its_script "snapshot $_d" snap)
	boot "its-snapshot" 180 -- run -k "$GUESTS/its.bin" -c 2 --irqchip gicv3-its --script "$s"
	want_rc 0
	_its_want
	[ -f "$_d/state" ] || why "no snapshot in $_d"
	verdict "its-snapshot-keep-running"
	s=$(_pscript its-restore <<'EOS'
timeout 120
send g
wait its: msi wanted: device 32 event 2
msi 32 2
wait its: all ok
expect-exit 0
EOS
)
	boot "its-snapshot-restore" 180 -- restore "$_d" --script "$s"
	want_rc 0
	want "its: int after g ok" "its: pending lpi ok (LPI 8195 on cpu 0 once enabled)" \
		"its: msi ok (LPI 8194 on cpu 1)" "its: all ok"
	want_none "FAIL"
	verdict "its-snapshot-restore"
	rm -rf "$_d"

	# An MSI needs an ITS: a script asking for one on a plain GICv3 fails with one reason.
	s=$(_pscript its-none <<'EOS'
wait wait: running
msi 1 1
EOS
)
	boot "its-msi-without-its" 60 -- run -k "$GUESTS/wait.bin" --irqchip gicv3 --script "$s"
	want_rc 5
	want "an MSI needs an ITS"
	verdict "its-msi-without-its"

	# A hostile guest: garbage commands and register writes, then a migration.
	s=$(_pscript its-bad <<'EOS'
timeout 180
wait its-bad: ready
migrate
send g
wait its-bad: all ok
expect-exit 0
EOS
)
	boot "its-bad-migrate" 300 -- run -k "$GUESTS/its_bad.bin" --irqchip gicv3-its --script "$s" --loglevel info
	want_rc 0
	want "its-bad: survived 3000 commands and 3000 register writes" "its-bad: good mapping ok after g" \
		"its-bad: all ok"
	want_none "FAIL"
	_migrated 1
	[ "$(wc -l < "$OUT")" -le 60 ] || why "$(wc -l < "$OUT") lines of output: a guest must not flood the log"
	verdict "its-bad-garbage-then-migrate"

	# Tables KVM cannot write back: the snapshot fails with one line, nothing is left behind,
	# the VM runs on and finishes.
	export XDG_RUNTIME_DIR="$TMPDIR/xdg-its"
	rm -rf "$XDG_RUNTIME_DIR" "$TMPDIR/its-bad-snap" "$TMPDIR/its-bad.fifo"
	mkdir -p "$XDG_RUNTIME_DIR"
	mkfifo "$TMPDIR/its-bad.fifo"
	OUT="$TMPDIR/its-bad-broken.out" WHY=""
	timeout -s KILL 120 "$ARMVMM" run -k "$GUESTS/its_bad.bin" --irqchip gicv3-its -p its-bad.broken \
		--name itsbad < "$TMPDIR/its-bad.fifo" > "$OUT" 2>&1 &
	_vm=$!
	exec 8> "$TMPDIR/its-bad.fifo"
	_i=0
	while [ $_i -lt 300 ] && ! grep -q "its-bad: broken ready" "$OUT"; do sleep 0.2; _i=$((_i + 1)); done
	grep -q "its-bad: broken ready" "$OUT" || why "the guest never got to its broken tables"
	"$ARMVMM" snapshot itsbad "$TMPDIR/its-bad-snap" > "$TMPDIR/its-bad-attempt.out" 2>&1
	_src=$?
	if [ "$_src" = 0 ]; then
		diag "its-bad: this KVM saved tables outside guest RAM"
	else
		[ "$(wc -l < "$TMPDIR/its-bad-attempt.out")" = 1 ] || why "the failed snapshot said more than one line"
		grep -q "armvmm: error: saving the GICv3 ITS: .*KVM_DEV_ARM_ITS_SAVE_TABLES" "$TMPDIR/its-bad-attempt.out" ||
			why "the failed snapshot did not say it was the ITS: $(cat "$TMPDIR/its-bad-attempt.out")"
		ls "$TMPDIR" | grep -q "its-bad-snap" && why "a failed snapshot left something behind"
	fi
	"$ARMVMM" list 2>&1 | grep -Eq "^itsbad +$_vm +running" || why "the VM is not running after the snapshot attempt"
	echo g >&8
	wait $_vm
	RC=$?
	exec 8>&-
	want_rc 0
	want "its-bad: all ok"
	want_none "FAIL"
	verdict "its-bad-broken-tables-snapshot-refused"
	rm -rf "$TMPDIR/its-bad-snap" "$TMPDIR/its-bad.fifo"
	unset XDG_RUNTIME_DIR
}

# --- the PMU ----------------------------------------------------------------------------------
# pmu_tests SUFFIX [ARGS...]: pmu.bin on the in-kernel GIC and on the userspace GICv2, each
# migrated at its snapshot point; ARGS go to armvmm run (e.g. -p pmu.inst=required).
pmu_tests() {
	_ps=$1
	shift
	s=$(_pscript pmu <<'EOS'
timeout 120
wait pmu: ready
migrate
send g
wait pmu: all ok
expect-exit 0
EOS
)
	for _pic in "$ic" user; do
		boot "pmu-$_pic-$_ps" 240 -- run -k "$GUESTS/pmu.bin" --pmu --irqchip "$_pic" --script "$s" \
			--loglevel info "$@"
		want_rc 0
		want "pmu: dtb ok (arm,armv8-pmuv3, PPI 7)" "pmu: cycles ok" "pmu: overflow irq ok (sw_incr)" \
			"pmu: overflow irq ok (cycles)" "pmu: ready" "pmu: state ok after g" "pmu: counting ok after g" \
			"pmu: overflow irq ok (after g)" "pmu: all ok"
		grep -q "pmu: instructions ok\|pmu: instructions not counted" "$OUT" || why "no line about counting instructions"
		case " $* " in *" pmu.inst=required "*) want "pmu: instructions ok count=" ;; esac
		want_none "FAIL"
		_migrated 1
		verdict "pmu-$_pic-migrate-$_ps"
		grep -F "pmu: instructions" "$OUT" | head -n1 | tr -d '\r' | while IFS= read -r l; do diag "pmu-$_pic-$_ps: $l"; done
	done
}

_parity_pmu() {
	pmu_tests "$hgic"
	# Without --pmu the vCPUs have none (the guest's own check fails: exit 3).
	boot "pmu-off-without-option" 60 -- run -k "$GUESTS/pmu.bin" --irqchip "$ic"
	want_rc 3
	want "no PMUv3 (was the VM started with --pmu?)"
	verdict "pmu-off-without-option"
	if [ "$hgic" = v2 ]; then
		check_error "pmu-not-with-legacy-vgic" "--pmu needs a vGIC created through the device API" -- \
			run -k "$GUESTS/pmu.bin" --pmu --irqchip gicv2-legacy
	fi
}

parity_tests() {
	_parity_help
	_parity_harness
	_parity_its
	_parity_pmu
}
