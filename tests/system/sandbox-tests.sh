# System tests of the process defences (sourced by suite.sh): the seccomp
# sandbox on every thread, its violation report, the jail, and a console
# nobody reads (pause, snapshot and stop must still answer).

# threads_ok PID: every thread of PID has "Seccomp: 2" and "NoNewPrivs: 1"; sets NTHREADS.
threads_ok() {
	NTHREADS=0
	_bad=""
	for _t in /proc/$1/task/*; do
		NTHREADS=$((NTHREADS + 1))
		grep -q '^Seccomp:[[:space:]]*2$' "$_t/status" || _bad="$_bad ${_t##*/}(Seccomp $(sed -n 's/^Seccomp:[[:space:]]*//p' "$_t/status"))"
		grep -q '^NoNewPrivs:[[:space:]]*1$' "$_t/status" || _bad="$_bad ${_t##*/}(NoNewPrivs)"
	done
	[ -z "$_bad" ] || why "threads outside the sandbox:$_bad"
}

# wait_for FILE TEXT SECONDS: until TEXT is in FILE; false when it never came.
wait_for() {
	_i=0
	while [ $_i -lt $(($3 * 5)) ]; do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.2
		_i=$((_i + 1))
	done
	return 1
}

# gone PID SECONDS: PID ended within SECONDS (polled every 0.2 s); ELAPSED is how long it took (tenths).
gone() {
	ELAPSED=0
	while kill -0 "$1" 2>/dev/null; do
		[ $ELAPSED -ge $(($2 * 10)) ] && return 1
		sleep 0.1
		ELAPSED=$((ELAPSED + 1))
	done
	return 0
}

sandbox_tests() {
	export XDG_RUNTIME_DIR="$TMPDIR/sbx-xdg"
	mkdir -p "$XDG_RUNTIME_DIR"
	chmod 700 "$XDG_RUNTIME_DIR"

	# --- every thread kind, sandboxed --------------------------------------------
	# VM 1: two vCPUs, a disk on the worker thread, the virtio console, the control
	# socket and with it the migration sender; VM 2: a script's runner. Guest RAM must be out of core dumps.
	head -c 1048576 /dev/zero > "$TMPDIR/sbx-disk.img"
	OUT="$TMPDIR/sbx-threads.out" WHY=""
	"$ARMVMM" run -k "$G/wait.bin" -c 2 -m 192 -d "$TMPDIR/sbx-disk.img,io=thread" --console virtio --name sbx \
		< /dev/null > "$OUT" 2>&1 &
	p1=$!
	printf 'timeout 120\nwait never-printed\n' > "$TMPDIR/sbx.script"
	"$ARMVMM" run -k "$G/wait.bin" --script "$TMPDIR/sbx.script" < /dev/null > "$TMPDIR/sbx-script.out" 2>&1 &
	p2=$!
	wait_for "$OUT" "wait: running" 30 || why "VM 1 never ran"
	wait_for "$TMPDIR/sbx-script.out" "wait: running" 30 || why "VM 2 never ran"
	threads_ok $p1
	n1=$NTHREADS
	threads_ok $p2
	n2=$NTHREADS
	diag "sandboxed threads: $n1 in VM 1 (main, 2 vCPUs, block I/O, console, control, migration sender), $n2 in VM 2 (main, vCPU, console, control, script)"
	[ "$n1" -ge 7 ] || why "VM 1 has $n1 threads, expected 7"
	[ "$n2" -ge 5 ] || why "VM 2 has $n2 threads, expected 5"
	# 192 MiB of guest RAM: its mapping carries "dd" (MADV_DONTDUMP).
	awk '/^[0-9a-f]+-[0-9a-f]+ / { want = 0 } /^Size: *196608 kB/ { want = 1 } want && /^VmFlags:/ { print; want = 0 }' \
		"/proc/$p1/smaps" | grep -qw dd || why "guest RAM is not marked MADV_DONTDUMP"
	"$ARMVMM" stop sbx > /dev/null 2>&1 || why "'armvmm stop sbx' failed"
	kill -TERM $p2
	gone $p1 20 || { why "VM 1 did not stop"; kill -KILL $p1; }
	gone $p2 20 || { why "VM 2 did not stop"; kill -KILL $p2; }
	wait $p1
	RC=$?
	want_rc 0
	verdict "sandbox-every-thread-filtered"

	# --sandbox=off: no filter (the switch for debugging).
	OUT="$TMPDIR/sbx-off.out" WHY=""
	"$ARMVMM" run -k "$G/wait.bin" --sandbox=off < /dev/null > "$OUT" 2>&1 &
	p1=$!
	wait_for "$OUT" "wait: running" 30 || why "the VM never ran"
	grep -q '^Seccomp:[[:space:]]*0$' /proc/$p1/status || why "--sandbox=off still filters the main thread"
	kill -TERM $p1
	gone $p1 20 || kill -KILL $p1
	wait $p1
	verdict "sandbox-off-switch"

	# --- a violation: the vCPU opens a file after entering its sandbox -------------
	# armvmm-sandbox-test is armvmm with the test hook linked in; the process must die
	# with exactly one line naming the thread and the call.
	if [ -x "${ARMVMM_SANDBOX_TEST:-}" ]; then
		OUT="$TMPDIR/sbx-violation.out" WHY=""
		ARMVMM_TEST_HOOK=vcpu-forbidden-syscall timeout -s KILL 30 "$ARMVMM_SANDBOX_TEST" run -k "$G/hello.bin" \
			< /dev/null > "$OUT" 2>&1
		RC=$?
		want_rc 159
		[ "$(wc -l < "$OUT")" -eq 1 ] || why "expected one line, got $(wc -l < "$OUT")"
		want "armvmm: error: sandbox: the vCPU thread made a forbidden system call: openat (56); ending armvmm (--sandbox=off runs without the filter)"
		verdict "sandbox-violation-one-line-report"
	else
		report "sandbox-violation-one-line-report" "no armvmm-sandbox-test binary" /dev/null
	fi
	# A main thread stuck in the host (the hook keeps it from its loop): a pause gets a
	# clear timeout error, and stop still ends the VM, through the watchdog.
	if [ -x "${ARMVMM_SANDBOX_TEST:-}" ]; then
		OUT="$TMPDIR/sbx-stuck.out" WHY=""
		ARMVMM_TEST_HOOK=main-stuck "$ARMVMM_SANDBOX_TEST" run -k "$G/wait.bin" --name stuck < /dev/null > "$OUT" 2>&1 &
		ps=$!
		wait_for "$OUT" "wait: running" 30 || why "the VM never ran"
		"$ARMVMM" pause stuck > "$TMPDIR/sbx-stuck-pause.out" 2>&1 && why "pause succeeded on a stuck main thread"
		grep -qF "armvmm: error: the VM did not take the request within 10 s (its main thread is busy); nothing was done" \
			"$TMPDIR/sbx-stuck-pause.out" || why "pause said: $(cat "$TMPDIR/sbx-stuck-pause.out")"
		t=$(date +%s)
		"$ARMVMM" stop stuck >> "$OUT" 2>&1 || why "stop failed"
		gone $ps 30 || { why "still running 30 s after the stop"; kill -KILL $ps; }
		took=$(( $(date +%s) - t ))
		diag "stuck main thread: pause refused after 10 s; the watchdog ended the VM ${took} s after 'armvmm stop'"
		[ $took -le 15 ] || why "the stop took ${took} s"
		wait $ps
		RC=$?
		want_rc 0
		want "armvmm: error: the VM did not end within 10 s of being asked to stop; exiting now"
		verdict "stop-ends-vm-with-stuck-main-thread"
	fi
	# The armvmm users run has no such hook: the variable does nothing.
	OUT="$TMPDIR/sbx-nohook.out" WHY=""
	ARMVMM_TEST_HOOK=vcpu-forbidden-syscall timeout -s KILL 30 "$ARMVMM" run -k "$G/hello.bin" < /dev/null > "$OUT" 2>&1
	RC=$?
	want_rc 0
	want "hello from armvmm guest"
	verdict "sandbox-test-hook-absent-from-armvmm"

	# --- the jail ---------------------------------------------------------------------
	# As root with --uid/--gid: Linux boots; the process is PID 1 of its own PID
	# namespace, in its own mount, network and IPC namespaces, sees only the jail
	# directory and what was bound in, runs as 1000:1000 without capabilities, and
	# its user can stop it over the control socket.
	mkdir -p /etc
	grep -q '^vmuser:' /etc/passwd 2>/dev/null || echo 'vmuser:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd
	grep -q '^vmuser:' /etc/group 2>/dev/null || echo 'vmuser:x:1000:' >> /etc/group
	chmod 666 /dev/kvm
	jail="$TMPDIR/jail"
	rm -rf "$jail"
	mkdir -p "$jail"
	check "jail-linux-boots" 0 300 "guest reached userspace: 1 cpu(s)" -- \
		run -k "$KERNEL" -i "$GUEST_INITRD" -m 256 --jail "$jail" --uid 1000 --gid 1000
	OUT="$TMPDIR/jail-empty.out" WHY=""
	ls -A "$jail" > "$OUT"
	[ ! -s "$OUT" ] || why "the jail directory kept mount points: $(tr '\n' ' ' < "$OUT")"
	verdict "jail-leaves-directory-clean"

	OUT="$TMPDIR/jail-iso.out" WHY=""
	"$ARMVMM" run -k "$G/wait.bin" --jail "$jail" --uid 1000 --gid 1000 --name jl --loglevel info \
		< /dev/null > "$OUT" 2>&1 &
	pj=$!
	wait_for "$OUT" "wait: running" 30 || why "the jailed VM never ran"
	child=$(tr -d ' ' < /proc/$pj/task/$pj/children)
	st="/proc/$child/status"
	grep -q "^NSpid:[[:space:]]*$child[[:space:]]*1$" "$st" || why "not PID 1 of its own PID namespace: $(grep NSpid "$st")"
	for ns in pid mnt net ipc; do
		[ "$(ls -l /proc/$child/ns/$ns | sed 's/.*-> //')" != "$(ls -l /proc/self/ns/$ns | sed 's/.*-> //')" ] ||
			why "shares the host's $ns namespace"
	done
	grep -q "^Uid:[[:space:]]*1000[[:space:]]*1000[[:space:]]*1000[[:space:]]*1000$" "$st" || why "uids: $(grep ^Uid "$st")"
	grep -q '^CapEff:[[:space:]]*0*$' "$st" && grep -q '^CapPrm:[[:space:]]*0*$' "$st" || why "kept capabilities"
	threads_ok $child
	# Its root: the jail directory with the binds only (no /proc: no PIDs to see).
	roots=$(ls /proc/$child/root/ | tr '\n' ' ')
	diag "the jailed VM's / holds: $roots"
	[ ! -e /proc/$child/root/proc/1 ] || why "the jail can see a /proc"
	[ ! -e /proc/$child/root/bin ] || why "the jail can see the host's /bin"
	[ -e /proc/$child/root/dev/kvm ] || why "no /dev/kvm in the jail"
	env -u XDG_RUNTIME_DIR start-stop-daemon -S -c 1000:1000 -n armvmm-client -a "$ARMVMM" -- stop jl \
		>> "$OUT" 2>&1 || why "'armvmm stop jl' as its user failed"
	gone $pj 20 || { why "the jailed VM did not stop"; kill -KILL $pj $child; }
	wait $pj
	RC=$?
	want_rc 0
	verdict "jail-namespaces-and-privileges"

	# Without root: a user namespace of our own. Skipped where the kernel forbids them.
	chmod 777 "$jail"
	OUT="$TMPDIR/jail-user.out" WHY=""
	env -u XDG_RUNTIME_DIR start-stop-daemon -S -c 1000:1000 -n armvmm-user -a "$ARMVMM" -- \
		run -k "$G/hello.bin" --jail "$jail" > "$OUT" 2>&1
	RC=$?
	if grep -q "cannot create a user namespace" "$OUT"; then
		diag "jail-without-root: skipped (no unprivileged user namespaces here)"
	else
		want_rc 0
		want "hello from armvmm guest"
		verdict "jail-without-root"
	fi

	# --- a console nobody reads -------------------------------------------------------
	# stdout is a FIFO this shell holds open and never reads. Once the console writer
	# sleeps in pipe_write (the pipe is full; the 64 KiB buffer behind it fills next),
	# pause, resume and snapshot must answer and stop must end the VM within a few
	# seconds. The serial guest counts the LSR polls that found THRE clear: after the
	# FIFO is drained its lines must show it saw a busy transmitter.
	for kind in serial virtio; do
		OUT="$TMPDIR/flood-$kind.out" WHY=""
		fifo="$TMPDIR/flood-$kind.fifo"
		rm -f "$fifo"
		mkfifo "$fifo"
		exec 7<> "$fifo"
		if [ $kind = serial ]; then
			"$ARMVMM" run -k "$G/flood.bin" --name flood --loglevel info < /dev/null > "$fifo" 2> "$OUT" &
		else
			# Debian's kernel has virtio_console as a module: the modules initramfs and root disk.
			cp "$GUEST_ROOTFS" "$TMPDIR/flood-root.ext4"
			"$ARMVMM" run -k "$KERNEL" -i "$GUEST_MODS_INITRD" -m 256 -d "$TMPDIR/flood-root.ext4,ro" \
				--console virtio --name flood -p "console=hvc0 panic=-1 armvmm.run=flood" \
				< /dev/null > "$fifo" 2> "$OUT" &
		fi
		pf=$!
		full=no i=0
		while [ $i -lt 1500 ] && kill -0 $pf 2>/dev/null; do
			for w in /proc/$pf/task/*/wchan; do
				[ "$(cat "$w" 2>/dev/null)" = pipe_write ] && full=yes
			done
			[ $full = yes ] && break
			sleep 0.2
			i=$((i + 1))
		done
		[ $full = yes ] || why "the console output never backed up (no thread in pipe_write within 300 s)"
		diag "flood-$kind: the console writer blocked on the full pipe after $((i / 5)) s"
		if [ $kind = serial ]; then
			# The 64 KiB buffer behind the pipe fills next (a byte per MMIO exit: slow under
			# nested TCG); armvmm says when it is full, and from then on the guest polls a busy
			# transmitter.
			j=0
			while [ $j -lt 1500 ] && ! grep -q "console output: the 64 KiB buffer is full" "$OUT"; do
				sleep 0.2
				j=$((j + 1))
			done
			grep -q "console output: the 64 KiB buffer is full" "$OUT" || why "armvmm never said its console buffer filled"
			diag "flood-$kind: the console buffer behind the pipe filled $((j / 5)) s later"
		else
			# The 64 KiB buffer behind the pipe fills at the rate the pipe did: give it that long.
			sleep $((i / 5 + 5))
		fi
		t=$(date +%s)
		"$ARMVMM" pause flood >> "$OUT" 2>&1 || why "pause failed"
		"$ARMVMM" resume flood >> "$OUT" 2>&1 || why "resume failed"
		rm -rf "$TMPDIR/flood-snap"
		"$ARMVMM" snapshot flood "$TMPDIR/flood-snap" >> "$OUT" 2>&1 || why "snapshot failed"
		diag "flood-$kind: pause, resume and snapshot answered in $(( $(date +%s) - t )) s"
		# Read the backlog: the guest goes on, and the serial guest's later lines say how
		# often it found the transmitter busy (read until one does, for up to 60 s).
		if [ $kind = serial ]; then
			timeout 60 grep -m 1 "busy-polls [1-9]" <&7 > "$TMPDIR/flood-$kind.head" 2>/dev/null
			busy=$(sed -n 's/.*busy-polls \([0-9]*\).*/\1/p' "$TMPDIR/flood-$kind.head")
			[ -n "$busy" ] || why "the guest never saw a busy transmitter (LSR THRE clear)"
			diag "flood-serial: the guest's first line after the backlog: $(tr -d '\r' < "$TMPDIR/flood-$kind.head")"
		else
			timeout 10 cat <&7 > "$TMPDIR/flood-$kind.head" 2>/dev/null
			grep -q "flood: line" "$TMPDIR/flood-$kind.head" || why "no flood lines reached the console"
		fi
		t=$(date +%s)
		"$ARMVMM" stop flood >> "$OUT" 2>&1 || why "stop failed"
		gone $pf 30 || { why "the VM was still running 30 s after 'armvmm stop'"; kill -KILL $pf; }
		took=$(( $(date +%s) - t ))
		diag "flood-$kind: the VM ended ${took} s after 'armvmm stop' (its last output gets 2 s to drain)"
		[ $took -le 6 ] || why "took ${took} s to end"
		wait $pf
		RC=$?
		want_rc 0
		exec 7<&-
		rm -rf "$TMPDIR/flood-snap" "$fifo" "$TMPDIR/flood-root.ext4"
		verdict "console-flood-$kind-pause-snapshot-stop"
	done
	unset XDG_RUNTIME_DIR
}
