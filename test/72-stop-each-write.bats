load helper
load stop
# bats file_tags=slow

# SIGTERM, SIGHUP and SIGINT at every point of a copy into an mbox: while
# the delivery waits for the mbox's lock (0) and at each of its three
# writes, sent to every smtpd process (systemd's stop, ^C) or to the
# session or queue runner alone (kill PID).  The copy ends whole and
# fsync'd or not begun, the locks are released, and a 250 means stored.

setup() {
	smtp_setup
	needs_strace
}

# each_point FN SIGNAL: FN SIGNAL POINT WHO at every point, for both WHO,
# each in a fresh mail directory.
each_point() {
	local who point
	for who in all top; do
		for point in 0 1 2 3; do
			rm -rf "$MAIL"
			smtp_setup
			"$1" "$2" "$point" "$who"
			echo "$STOPPED"
		done
	done
}

@test "SIGTERM at each point of a session's copy: whole with 250, or nothing without" {
	each_point stop_session TERM
}

@test "SIGHUP at each point of a session's copy: whole with 250, or nothing without" {
	each_point stop_session HUP
}

@test "SIGINT at each point of a session's copy: whole with 250, or nothing without" {
	each_point stop_session INT
}

@test "SIGTERM at each point of a queue run's copy: whole and out of the queue, or nothing" {
	each_point stop_queue TERM
}

@test "SIGHUP at each point of a queue run's copy: whole and out of the queue, or nothing" {
	each_point stop_queue HUP
}

@test "SIGINT at each point of a queue run's copy: whole and out of the queue, or nothing" {
	each_point stop_queue INT
}
