#!/usr/bin/env bash
# Stores the benchmark session in the Redis on 127.0.0.1:PORT and prints its cookie value, signed with
# SECRET by the real itsdangerous. `make bench` and bench/profile-yaegi.sh measure the same session.
# With N, stores N sessions (the same JWT under N ids) and prints their N cookie values, one per line.
#   bench/session.sh PORT SECRET [N]
set -euo pipefail
port="${1:?redis port}"
secret="${2:?secret}"
count="${3:-1}"
exec 4>&1 # the cookie values, while the commands go to redis-cli
/usr/bin/python3 - "$secret" "$count" 3>&4 <<'PY' | redis-cli -p "$port" --pipe >/dev/null
import base64, hashlib, json, sys, uuid
from itsdangerous import Signer
secret, count = sys.argv[1], int(sys.argv[2])
b = lambda d: base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=").decode()
# A JWT of a realistic size (about 800 bytes): sessionjwt decodes its payload for exp.
claims = {"sub": "7f9c2ba4-e88f-11e4-9d8c-0800200c9a66", "iat": 1800000000, "exp": 4102444800, "level": "3.1",
          "scopes": "support:mobile,user:all", "key": "support", "data": "x" * 420}
jwt = b({"alg": "RS256", "typ": "JWT"}) + "." + b(claims) + "." + "c2lnbmF0dXJl" * 29
signer = Signer(secret, digest_method=hashlib.sha256)
ids = ["0b9e8d52-3c3a-4f7e-9a57-7d4d1f6b2c11"] + [str(uuid.uuid4()) for _ in range(count - 1)]
cmd = lambda *a: "*%d\r\n" % len(a) + "".join("$%d\r\n%s\r\n" % (len(x.encode()), x) for x in a)
with open("/dev/fd/3", "w") as cookies:
    for i in ids:
        sys.stdout.write(cmd("SET", i, jwt))
        cookies.write(signer.sign(i).decode() + "\n")
PY
