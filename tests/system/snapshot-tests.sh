# Snapshot, restore and control-socket tests, as a fragment for suite.sh to source
# after lib.sh (it needs $ARMVMM, $GUESTS, $KERNEL, $GUEST_INITRD, $TMPDIR, and $ic,
# $hgic from suite.sh). "Migrate" is the script command: snapshot, end this armvmm,
# restore the snapshot in a fresh armvmm process, continue the script there.
#
#   snapshot_tests
#
# Results are named snap-*-IRQCHIP and ctl-*; every armvmm runs under a timeout.

SNAP_EDIT=${SNAP_EDIT:-$(dirname "$ARMVMM")/snap-edit}

# _disk FILE: a 1 MiB disk image with a pattern in its first sector (the stored v1
# snapshots recorded one like it).
_disk() {
	_i=0
	while [ $_i -lt 32 ]; do printf 'v1 disk line %02d\n' $_i; _i=$((_i + 1)); done > "$1"
	head -c $((1048576 - 512)) /dev/zero >> "$1"
}

# _script NAME: writes the script text from stdin to $TMPDIR/NAME.script, prints the path.
_script() {
	cat > "$TMPDIR/$1.script"
	echo "$TMPDIR/$1.script"
}

# _migrated N: the output shows N migrations (N "restored" lines, N "migrating" lines).
_migrated() {
	_m=$(grep -c "armvmm: migrating: snapshot in" "$OUT")
	_r=$(grep -c "armvmm: restored " "$OUT")
	[ "$_m" = "$1" ] && [ "$_r" = "$1" ] || why "expected $1 migration(s), saw $_m snapshot(s) and $_r restore(s)"
}

# snap_timer.bin's script: ticks and a memory pattern; the VM moves to a new process mid-run.
_snap_timer_migrate_script() {
	_script snap-timer <<'EOS'
timeout 60
wait snap-timer: ready
migrate
send g
wait snap-timer: all ok
expect-exit 0
EOS
}

# Bare-metal guests across one migrate, on irqchip $1.
_snap_guests() {
	_ic=$1
	s=$(_snap_timer_migrate_script)
	boot "snap-timer-migrate-$_ic" 180 -- run -k "$GUESTS/snap_timer.bin" --irqchip "$_ic" --script "$s" --loglevel info
	want_rc 0
	want "snap-timer: ready" "snap-timer: ticks ok" "snap-timer: memory ok" "snap-timer: all ok"
	want_none "FAIL"
	_migrated 1
	verdict "snap-timer-migrate-$_ic"

	s=$(_script snap-gic <<'EOS'
# snap_gic.bin on 4 vCPUs: each CPU with its own active and pending SGI, CPU 2 off, CPU 3 never started.
timeout 60
wait snap-gic: ready
migrate
send g
wait snap-gic: all ok
expect-exit 0
EOS
)
	boot "snap-gic-migrate-$_ic" 180 -- run -k "$GUESTS/snap_gic.bin" -c 4 --irqchip "$_ic" --script "$s" --loglevel info
	want_rc 0
	for _c in 0 1 2; do
		want "snap-gic: cpu $_c state ok" "snap-gic: cpu $_c delivered ok"
	done
	want "snap-gic: spi ok" "snap-gic: cpu 3 online" "snap-gic: psci ok" "snap-gic: all ok"
	want_none "FAIL"
	_migrated 1
	verdict "snap-gic-migrate-$_ic"
}

# A snapshot that leaves the VM running; the snapshot then restores separately and the
# guest finishes twice from the same point.
_snap_keep_running() {
	_ic=$1 _dir="$TMPDIR/snap-keep-$1"
	rm -rf "$_dir"
	s=$(_script snap-keep <<EOS
timeout 60
wait snap-timer: ready
snapshot $_dir
send g
wait snap-timer: all ok
expect-exit 0
EOS
)
	boot "snap-keep-running-$_ic" 180 -- run -k "$GUESTS/snap_timer.bin" --irqchip "$_ic" --script "$s"
	want_rc 0
	want "snap-timer: all ok"
	want_none "FAIL"
	[ -f "$_dir/state" ] && [ -f "$_dir/memory" ] || why "no snapshot in $_dir"
	ls "$TMPDIR" | grep -q "snap-keep-$_ic.tmp" && why "a temporary snapshot directory was left behind"
	verdict "snap-keep-running-$_ic"

	s=$(_script snap-keep-restore <<'EOS'
timeout 60
send g
wait snap-timer: all ok
expect-exit 0
EOS
)
	boot "snap-restore-again-$_ic" 180 -- restore "$_dir" --script "$s"
	want_rc 0
	want "snap-timer: ticks ok" "snap-timer: memory ok" "snap-timer: all ok"
	want_none "FAIL"
	verdict "snap-restore-again-$_ic"
	rm -rf "$_dir" # the nested host's /tmp is RAM
}

# Debian's kernel with busybox, driven by the two example scripts: examples/boot-test.script,
# and examples/migrate.script (boot to a shell, migrate twice mid-session, run commands at
# the restored shell; it also keeps a snapshot at /tmp/at-shell, restored once more here).
_snap_linux() {
	_ic=$1
	boot "example-boot-test-$_ic" 300 -- \
		run -k "$KERNEL" -i "$GUEST_INITRD" -m 256 -p armvmm.shell --irqchip "$_ic" --script "$EXAMPLES/boot-test.script"
	want_rc 0
	want "sum=42 cpus=1"
	verdict "example-boot-test-$_ic"

	rm -rf /tmp/at-shell
	boot "snap-linux-migrate-twice-$_ic" 600 -- \
		run -k "$KERNEL" -i "$GUEST_INITRD" -c 2 -m 256 -p armvmm.shell --irqchip "$_ic" \
		--script "$EXAMPLES/migrate.script" --loglevel info
	want_rc 0
	want "moved-once mark-42" "moved-twice mark-42 uptime="
	_migrated 2
	verdict "snap-linux-migrate-twice-$_ic"

	s=$(_script at-shell <<'EOS'
timeout 120
sendline echo again $(cat /tmp/mark) cpus=$(grep -c ^processor /proc/cpuinfo)
wait again mark-42 cpus=2
sendline poweroff -f
expect-exit 0
EOS
)
	boot "snap-linux-restore-kept-$_ic" 300 -- restore /tmp/at-shell --script "$s"
	want_rc 0
	want "again mark-42 cpus=2"
	verdict "snap-linux-restore-kept-$_ic"
	rm -rf /tmp/at-shell
}

# The control socket: list, pause, snapshot while paused, resume, stop; its directory is private.
_ctl_tests() {
	export XDG_RUNTIME_DIR="$TMPDIR/xdg"
	rm -rf "$XDG_RUNTIME_DIR" "$TMPDIR/ctl-snap" "$TMPDIR/ctl-snap2"
	mkdir -p "$XDG_RUNTIME_DIR"
	OUT="$TMPDIR/ctl-vm.out"
	timeout -s KILL 120 "$ARMVMM" run -k "$GUESTS/snap_timer.bin" --name vm1 --irqchip "$ic" < /dev/null > "$OUT" 2>&1 &
	_vm=$!
	_i=0
	while [ $_i -lt 50 ] && ! grep -q "snap-timer: ready" "$OUT"; do sleep 0.2; _i=$((_i + 1)); done

	"$ARMVMM" list > "$TMPDIR/ctl-list.out" 2>&1
	grep -Eq "^vm1 +$_vm +running" "$TMPDIR/ctl-list.out" || why "list: $(tr '\n' '|' < "$TMPDIR/ctl-list.out")"
	_mode=$(stat -c %a "$XDG_RUNTIME_DIR/armvmm" 2>/dev/null)
	[ "$_mode" = 700 ] || why "runtime directory mode $_mode, expected 700"
	"$ARMVMM" pause vm1 > "$TMPDIR/ctl-pause.out" 2>&1 || why "pause failed: $(cat "$TMPDIR/ctl-pause.out")"
	"$ARMVMM" list 2>&1 | grep -Eq "^vm1 +$_vm +paused" || why "list does not say paused"
	"$ARMVMM" snapshot vm1 "$TMPDIR/ctl-snap" > "$TMPDIR/ctl-snapshot.out" 2>&1 ||
		why "snapshot while paused failed: $(cat "$TMPDIR/ctl-snapshot.out")"
	"$ARMVMM" list 2>&1 | grep -Eq "^vm1 +$_vm +paused" || why "the VM did not stay paused after the snapshot"
	"$ARMVMM" resume vm1 > /dev/null 2>&1 || why "resume failed"
	"$ARMVMM" list 2>&1 | grep -Eq "^vm1 +$_vm +running" || why "list does not say running after resume"
	verdict "ctl-list-pause-snapshot-resume"

	# Another user (uid 1000, through busybox's start-stop-daemon) cannot reach the socket:
	# first the 0700 directory stops it; with the directory and socket opened up, the VM's
	# own peer check (SO_PEERCRED) refuses it.
	if [ "$(id -u)" = 0 ]; then
		_u=$TMPDIR/u1000
		rm -rf "$_u"
		# start-stop-daemon looks the uid up; the nested host's initramfs has no /etc.
		mkdir -p /etc
		grep -q '^u1000:' /etc/passwd 2>/dev/null || echo 'u1000:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd
		mkdir -p "$_u/armvmm"
		ln -s "$XDG_RUNTIME_DIR/armvmm/vm1.sock" "$_u/armvmm/vm1.sock"
		chown -R 1000:1000 "$_u"
		chmod 700 "$_u/armvmm"
		_as_other() {
			busybox start-stop-daemon -S -u 1000 -c 1000:1000 -x /bin/busybox -- \
				env XDG_RUNTIME_DIR="$_u" "$ARMVMM" pause vm1
		}
		OUT="$TMPDIR/ctl-other-user.out"
		_as_other > "$OUT" 2>&1
		RC=$?
		want_rc 1
		want "armvmm: error: cannot reach VM 'vm1': permission denied"
		chmod 711 "$XDG_RUNTIME_DIR/armvmm"
		chmod 666 "$XDG_RUNTIME_DIR/armvmm/vm1.sock"
		_as_other >> "$OUT" 2>&1
		RC=$?
		chmod 700 "$XDG_RUNTIME_DIR/armvmm"
		chmod 600 "$XDG_RUNTIME_DIR/armvmm/vm1.sock"
		want_rc 1
		want "armvmm: error: permission denied"
		"$ARMVMM" list 2>&1 | grep -Eq "^vm1 +$_vm +running" || why "the other user paused the VM"
		verdict "ctl-other-user-refused"
	else
		diag "ctl-other-user-refused: skipped (needs root to switch users)"
	fi

	# A runtime directory others can enter is refused, by clients and servers.
	chmod 0755 "$XDG_RUNTIME_DIR/armvmm"
	OUT="$TMPDIR/ctl-bad-mode.out"
	"$ARMVMM" pause vm1 > "$OUT" 2>&1
	RC=$?
	want_rc 1
	want "is not private"
	chmod 0700 "$XDG_RUNTIME_DIR/armvmm"
	verdict "ctl-wrong-dir-mode-refused"

	# Stop: the VM ends with status 0 and disappears from the list.
	OUT="$TMPDIR/ctl-vm.out"
	"$ARMVMM" stop vm1 > "$TMPDIR/ctl-stop.out" 2>&1 || why "stop failed: $(cat "$TMPDIR/ctl-stop.out")"
	wait $_vm
	RC=$?
	want_rc 0
	"$ARMVMM" list 2>&1 | grep -q "^vm1 " && why "vm1 still listed after stop"
	verdict "ctl-stop"

	# The snapshot taken while paused continues where it was, under a new name.
	s=$(_script ctl-restore <<'EOS'
timeout 60
send g
wait snap-timer: all ok
expect-exit 0
EOS
)
	boot "ctl-snapshot-restores" 120 -- restore "$TMPDIR/ctl-snap" --name vm2 --script "$s"
	want_rc 0
	want "snap-timer: ticks ok" "snap-timer: all ok"
	verdict "ctl-snapshot-restores"
	rm -rf "$TMPDIR/ctl-snap"

	# snapshot --stop: written, then the VM ends.
	OUT="$TMPDIR/ctl-vm3.out"
	timeout -s KILL 120 "$ARMVMM" run -k "$GUESTS/wait.bin" --name vm3 < /dev/null > "$OUT" 2>&1 &
	_vm=$!
	_i=0
	while [ $_i -lt 50 ] && ! grep -q "wait: running" "$OUT"; do sleep 0.2; _i=$((_i + 1)); done
	"$ARMVMM" snapshot vm3 "$TMPDIR/ctl-snap2" --stop > "$TMPDIR/ctl-snap2.out" 2>&1 ||
		why "snapshot --stop failed: $(cat "$TMPDIR/ctl-snap2.out")"
	wait $_vm
	RC=$?
	want_rc 0
	[ -f "$TMPDIR/ctl-snap2/state" ] || why "no snapshot written"
	verdict "ctl-snapshot-stop"
	unset XDG_RUNTIME_DIR
}

# Bad snapshots: one clear error line, exit status 1, before anything runs.
_snap_bad_input() {
	_src="$TMPDIR/ctl-snap2"
	[ -f "$_src/state" ] || return 0
	_bad() { # NAME → a fresh copy of the state in $TMPDIR/bad-NAME, the memory file linked
		rm -rf "$TMPDIR/bad-$1"
		mkdir "$TMPDIR/bad-$1"
		cp "$_src/state" "$TMPDIR/bad-$1/"
		ln "$_src/memory" "$TMPDIR/bad-$1/memory"
		echo "$TMPDIR/bad-$1"
	}
	d=$(_bad truncated)
	head -c 100 "$_src/state" > "$d/state"
	check_error "snap-bad-truncated" "truncated" -- restore "$d"
	d=$(_bad crc)
	printf '\377' | dd of="$d/state" bs=1 seek=90 conv=notrunc 2> /dev/null
	check_error "snap-bad-checksum" "checksum" -- restore "$d"
	d=$(_bad magic)
	printf 'X' | dd of="$d/state" bs=1 seek=0 conv=notrunc 2> /dev/null
	check_error "snap-bad-magic" "magic" -- restore "$d"
	d=$(_bad memsize)
	rm "$d/memory"
	head -c 4096 "$_src/memory" > "$d/memory"
	check_error "snap-bad-memory-size" "memory" -- restore "$d"
	check_error "snap-missing-dir" "/nonexistent/snap" -- restore /nonexistent/snap
	check_error "snap-restore-run-option" "unknown option" -- restore "$_src" -m 512
	if [ -x "$SNAP_EDIT" ]; then
		d=$(_bad irqchip)
		# A snapshot of an in-kernel GIC this host does not have.
		if [ "$hgic" = v3 ]; then _t=0 _want="GICv2"; else _t=1 _want="GICv3"; fi
		"$SNAP_EDIT" "$d/state" irqchip "$_t"
		check_error "snap-irqchip-not-on-host" "$_want" -- restore "$d"
		d=$(_bad vcpus)
		"$SNAP_EDIT" "$d/state" vcpus 5000
		check_error "snap-vcpus-above-limit" "vCPU" -- restore "$d"
		d=$(_bad unconfigured-slot)
		# State for a virtio slot the configuration never made (not the next free one).
		"$SNAP_EDIT" "$d/state" add VIRT 9
		check_error "snap-state-for-unconfigured-slot" "virtio slot 9" -- restore "$d"
	fi
	# A snapshot directory that exists already is refused (the script fails: status 5).
	s=$(_script exists <<EOS
wait wait: running
snapshot $_src
EOS
)
	boot "snap-dir-exists" 60 -- run -k "$GUESTS/wait.bin" --script "$s"
	want_rc 5
	want "armvmm: error: snapshot directory '$_src' already exists"
	verdict "snap-dir-exists"
	rm -rf "$_src" "$TMPDIR"/bad-*
}

# Scripts are checked before anything runs: a bad one is one error line naming its line.
_script_errors() {
	s=$(_script bad-command <<'EOS'
wait hello
frobnicate now
EOS
)
	check_error "script-unknown-command" "bad-command.script:2: unknown command 'frobnicate'" -- \
		run -k "$GUESTS/hello.bin" --script "$s"
	s=$(_script bad-timeout <<'EOS'
timeout soon
EOS
)
	check_error "script-bad-number" "bad-timeout.script:1: 'timeout' needs a whole number" -- \
		run -k "$GUESTS/hello.bin" --script "$s"
	check_error "script-missing" "cannot read script" -- run -k "$GUESTS/hello.bin" --script /nonexistent.script
	# A wait that never matches fails after its timeout with exit status 5.
	s=$(_script never <<'EOS'
timeout 2
wait this text never appears
EOS
)
	boot "script-wait-timeout" 60 -- run -k "$GUESTS/wait.bin" --script "$s"
	want_rc 5
	want "never.script:2: 'this text never appears' did not appear within 2 s"
	verdict "script-wait-timeout"
}

# Snapshots written by armvmm 0.1.0 before the board / device-list restructuring
# (tests/data/snapshot-v1-HOST-IRQCHIP, made by tests/data/make-snapshot-v1.sh: snap_gic.bin
# on 4 vCPUs, 32 MiB, a disk, the virtio-rng and the RTC) restore through today's loader
# and the guest finishes its checks. Each restores on the kind of host it was taken on
# (KVM refuses ID register values of another host: ID_PFR1_EL1 tells the host's GIC).
# The disk path they recorded is /tmp/armvmm-v1/disk.img.
_snap_stored_v1() {
	[ -n "${DATA:-}" ] && [ -d "$DATA" ] || return 0
	for _ic in user "$ic"; do
		_d="$TMPDIR/stored-v1-$_ic"
		rm -rf "$_d" /tmp/armvmm-v1
		mkdir -p "$_d" /tmp/armvmm-v1
		chmod 700 "$_d"
		cp "$DATA/snapshot-v1-$hgic-$_ic/state" "$_d/state"
		gunzip -c "$DATA/snapshot-v1-$hgic-$_ic/memory.gz" > "$_d/memory"
		_disk /tmp/armvmm-v1/disk.img
		s=$(_script stored-v1 <<'EOS'
timeout 60
send g
wait snap-gic: all ok
expect-exit 0
EOS
)
		boot "snap-stored-v1-$hgic-$_ic" 120 -- restore "$_d" --script "$s" --loglevel info
		want_rc 0
		want "armvmm: restored $_d"
		for _c in 0 1 2; do
			want "snap-gic: cpu $_c state ok" "snap-gic: cpu $_c delivered ok"
		done
		want "snap-gic: spi ok" "snap-gic: cpu 3 online" "snap-gic: psci ok" "snap-gic: all ok"
		want_none "FAIL"
		verdict "snap-stored-v1-$hgic-$_ic"
		rm -rf "$_d" /tmp/armvmm-v1
	done
}


# Disks in snapshots: recorded by canonical path and identity, whatever path the user typed;
# a disk that changed since, a recorded path that is a symlink now, a snapshot another user
# owns: each refused in one line; --disk OLD=NEW and --allow-changed-disk restore anyway.
# Then scripted migrations with a disk, one whose restore fails (its disk moved away): the
# snapshot stays, its path is printed, and it restores with --disk.
_snap_trust() {
	_ic=$1 _d="$TMPDIR/trust-$1" _snap="$TMPDIR/trust-$1-snap"
	rm -rf "$_d" "$_snap"
	mkdir -p "$_d"
	_disk "$_d/disk.img"
	s=$(_script trust-go <<'EOS'
timeout 60
send g
wait snap-timer: all ok
expect-exit 0
EOS
)
	export XDG_RUNTIME_DIR="$TMPDIR/xdg-trust"
	mkdir -p "$XDG_RUNTIME_DIR"
	chmod 700 "$XDG_RUNTIME_DIR"
	# A relative disk path, and a relative snapshot directory, as people type them.
	OUT="$TMPDIR/trust-run.out"
	(cd "$_d" && exec timeout -s KILL 120 "$ARMVMM" run -k "$GUESTS/snap_timer.bin" -d disk.img --name rel \
		--irqchip "$_ic" < /dev/null > "$OUT" 2>&1) &
	_vm=$!
	_i=0
	while [ $_i -lt 100 ] && ! grep -q "snap-timer: ready" "$OUT"; do sleep 0.2; _i=$((_i + 1)); done
	(cd "$_d" && "$ARMVMM" snapshot rel ../trust-$_ic-snap --stop) > "$TMPDIR/trust-snap.out" 2>&1 ||
		why "snapshot failed: $(cat "$TMPDIR/trust-snap.out")"
	wait $_vm
	boot "snap-relative-disk-path-$_ic" 120 -- restore "$_snap" --script "$s"
	want_rc 0
	want "snap-timer: ticks ok" "snap-timer: all ok"
	verdict "snap-relative-disk-path-$_ic"

	# That restore wrote nothing to the disk, but a snapshot of a running VM can go stale:
	# a write to the disk since the save is caught by its modification time.
	printf 'X' | dd of="$_d/disk.img" bs=1 seek=700 conv=notrunc 2> /dev/null
	check_error "snap-disk-changed-refused-$_ic" "changed since it was saved" -- restore "$_snap"
	boot "snap-disk-changed-allowed-$_ic" 120 -- restore "$_snap" --allow-changed-disk --script "$s"
	want_rc 0
	want "snap-timer: all ok"
	verdict "snap-disk-changed-allowed-$_ic"

	# Another snapshot, then the disk's path becomes a symlink to where the disk went.
	rm -rf "$_snap"
	OUT="$TMPDIR/trust-run2.out"
	timeout -s KILL 120 "$ARMVMM" run -k "$GUESTS/snap_timer.bin" -d "$_d/disk.img" --name rel2 --irqchip "$_ic" \
		< /dev/null > "$OUT" 2>&1 &
	_vm=$!
	_i=0
	while [ $_i -lt 100 ] && ! grep -q "snap-timer: ready" "$OUT"; do sleep 0.2; _i=$((_i + 1)); done
	"$ARMVMM" snapshot rel2 "$_snap" --stop > /dev/null 2>&1 || why "second snapshot failed"
	wait $_vm
	mv "$_d/disk.img" "$_d/disk.real"
	ln -s disk.real "$_d/disk.img"
	check_error "snap-disk-path-symlink-refused-$_ic" "is a symbolic link" -- restore "$_snap"
	boot "snap-disk-remapped-$_ic" 120 -- restore "$_snap" --disk "$_d/disk.img=$_d/disk.real" --script "$s"
	want_rc 0
	want "snap-timer: all ok"
	verdict "snap-disk-remapped-$_ic"
	rm -f "$_d/disk.img"
	mv "$_d/disk.real" "$_d/disk.img"

	# A snapshot that another user owns (or could have written) is not restored.
	if [ "$(id -u)" = 0 ]; then
		chown -R 1000:1000 "$_snap"
		check_error "snap-owned-by-another-user-$_ic" "belongs to uid 1000" -- restore "$_snap"
		chown -R 0:0 "$_snap"
		chmod g+w "$_snap/state"
		check_error "snap-group-writable-$_ic" "writable by its group" -- restore "$_snap"
	else
		diag "snap-owned-by-another-user: skipped (needs root to chown)"
	fi
	rm -rf "$_snap"

	# A script's migrate with a disk (its lock handed from the old process to the new one).
	s=$(_snap_timer_migrate_script)
	boot "snap-script-migrate-disk-$_ic" 180 -- run -k "$GUESTS/snap_timer.bin" -d "$_d/disk.img" --irqchip "$_ic" \
		--script "$s" --loglevel info
	want_rc 0
	want "snap-timer: all ok"
	_migrated 1
	verdict "snap-script-migrate-disk-$_ic"

	# The disk moves away while the VM runs: the new process cannot restore the migration.
	# Nothing is lost: the snapshot stays where the error line says, and restores with --disk.
	s=$(_script trust-migrate-fails <<'EOS'
timeout 60
wait snap-timer: ready
sleep 1500
migrate
send g
wait snap-timer: all ok
expect-exit 0
EOS
)
	OUT="$TMPDIR/snap-script-migrate-restore-fails-$_ic.out"
	timeout -s KILL 120 "$ARMVMM" run -k "$GUESTS/snap_timer.bin" -d "$_d/disk.img" --irqchip "$_ic" \
		--script "$s" < /dev/null > "$OUT" 2>&1 &
	_vm=$!
	_i=0
	while [ $_i -lt 100 ] && ! grep -q "snap-timer: ready" "$OUT"; do sleep 0.1; _i=$((_i + 1)); done
	mv "$_d/disk.img" "$_d/moved.img"
	wait $_vm
	RC=$?
	want_rc 1
	want "its snapshot is kept in"
	_kept=$(sed -n 's/.*its snapshot is kept in \([^ ]*\) .*/\1/p' "$OUT" | head -n1)
	[ -n "$_kept" ] && [ -f "$_kept/state" ] && [ -f "$_kept/memory" ] || why "no snapshot kept ('$_kept')"
	verdict "snap-script-migrate-restore-fails-$_ic"
	s=$(_script trust-rescue <<'EOS'
timeout 60
send g
wait snap-timer: all ok
expect-exit 0
EOS
)
	boot "snap-kept-snapshot-restores-$_ic" 120 -- restore "$_kept" --disk "$_d/disk.img=$_d/moved.img" --script "$s"
	want_rc 0
	want "snap-timer: ticks ok" "snap-timer: all ok"
	verdict "snap-kept-snapshot-restores-$_ic"
	rm -rf "$(dirname "$_kept")" "$_d"
	unset XDG_RUNTIME_DIR
}

snapshot_tests() {
	_snap_stored_v1
	_script_errors
	_snap_trust "$ic"
	[ "$hgic" = v2 ] && _snap_trust user	# the userspace GIC on one host: its model is the same on both
	_snap_guests "$ic"
	_snap_guests user
	_snap_keep_running "$ic"
	_snap_linux "$ic"
	_ctl_tests
	_snap_bad_input
}
