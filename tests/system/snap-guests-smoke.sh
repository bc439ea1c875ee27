# Smoke test of the snapshot test guests (tests/guests/snap_timer.c, snap_gic.c) without
# any snapshot: each boots, says "ready", gets "g" on its UART straight away and must
# pass its checks. A payload for nested.sh:
#
#   tests/system/nested.sh --build DIR --gic 2|3 --payload tests/system/snap-guests-smoke.sh --tap
#
# Runs each guest on the host's in-kernel GIC and on the userspace GICv2.
. "$ARMVMM_LIB"

G=$GUESTS
hgic=$(host_gic)
if [ "$hgic" = v3 ]; then ic=gicv3; else ic=gicv2; fi
diag "host: $(uname -r), $(grep -c '^processor' /proc/cpuinfo) cpus, GIC $hgic"

# show: the guest's output as diagnostics
show() { tr -d '\r' < "$OUT" | while IFS= read -r l; do diag "  | $l"; done; }

# snap_timer NAME IRQCHIP GIC-VERSION
snap_timer() {
	boot "$1" 120 --send "snap-timer: ready ticks=" g --stamp "snap-timer: ready ticks=" -- run -k "$G/snap_timer.bin" --irqchip "$2"
	want_rc 0
	[ "$SENT" = yes ] || why "the guest never said ready"
	want "snap-timer: gic=$3" "snap-timer: memory written bytes=33554432" "snap-timer: ready ticks=" \
		"snap-timer: ticks ok count=" "snap-timer: memory ok bytes=33554432" "snap-timer: all ok"
	want_none "FAIL"
	diag "$1: ${STAMP:+ready after $((STAMP - T0)) s, }$((T1 - T0)) s in all"
	show
	verdict "$1"
}

# snap_gic NAME IRQCHIP GIC-VERSION
snap_gic() {
	boot "$1" 120 --send "snap-gic: ready" g --stamp "snap-gic: ready" -- run -k "$G/snap_gic.bin" -c 4 --irqchip "$2"
	want_rc 0
	[ "$SENT" = yes ] || why "the guest never said ready"
	want "snap-gic: gic=$3" "snap-gic: ready"
	for c in 0 1 2; do
		want "snap-gic: cpu $c state ok" "snap-gic: cpu $c delivered ok"
	done
	want "snap-gic: spi ok" "snap-gic: cpu 3 online" "snap-gic: psci ok" "snap-gic: all ok"
	want_none "FAIL"
	diag "$1: ${STAMP:+ready after $((STAMP - T0)) s, }$((T1 - T0)) s in all"
	show
	verdict "$1"
}

snap_timer "snap-timer-$ic" "$ic" "$hgic"
snap_timer "snap-timer-user" user v2
snap_gic "snap-gic-$ic" "$ic" "$hgic"
snap_gic "snap-gic-user" user v2
finish
