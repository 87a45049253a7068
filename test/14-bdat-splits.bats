#!/usr/bin/env bats
# CHUNKING (RFC 3030), exhaustively: a message split into three chunks at
# every pair of positions, one session each.  Slow: make check-all.
# bats file_tags=slow

load helper

# A message split into chunks at every position is stored as DATA stores it.
@test "chunk boundaries anywhere give what DATA gives" {
	run -0 --separate-stderr python3 -S - "$SMTPD" "$MAIL" "$HOST" "${SMTPD_UOPT[@]}" <<'PY'
import os, subprocess, sys
smtpd, mail, host, opts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
msg = b"Subject: split\r\nX: a\rb\r\n\r\n.dot\r\nFrom me\r\n\r\nend\r\n"
head = b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@" + host.encode() + b">\r\n"
box = os.path.join(mail, "alice")

def run(data):
    open(box, "wb").close()
    p = subprocess.run([smtpd] + opts + ["-d", mail, "-h", host],
                       input=head + data + b"QUIT\r\n", capture_output=True, timeout=10)
    codes = [l[:3] for l in p.stdout.split(b"\r\n") if l[3:4] == b" "]
    assert p.stderr == b"" and codes[-2:] == [b"250", b"221"], p.stdout
    body = open(box, "rb").read()
    # Only the Received: date and message id differ between runs.
    return body.split(b"\n\n", 1)[1]

want = run(b"DATA\r\n" + msg.replace(b"\r\n.", b"\r\n..") + b".\r\n")
for i in range(len(msg) + 1):
    for j in range(i, len(msg) + 1):
        if j - i > 3 and j != len(msg):
            continue
        a, b, c = msg[:i], msg[i:j], msg[j:]
        data = b"BDAT %d\r\n%sBDAT %d\r\n%sBDAT %d LAST\r\n%s" % (
            len(a), a, len(b), b, len(c), c)
        got = run(data)
        assert got == want, (i, j, got, want)
print("ok")
PY
	[ "$output" = ok ]
}
