#!/usr/bin/env bash
# Stores the benchmark session in the Redis on 127.0.0.1:PORT and prints its cookie value, signed with
# SECRET by the real itsdangerous. `make bench` and bench/profile-yaegi.sh measure the same session.
#   bench/session.sh PORT SECRET
set -euo pipefail
port="${1:?redis port}"
secret="${2:?secret}"
session=0b9e8d52-3c3a-4f7e-9a57-7d4d1f6b2c11
# A JWT of a realistic size (about 800 bytes): sessionjwt decodes its payload for exp.
jwt=$(/usr/bin/python3 -c 'import base64, json
b = lambda d: base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=").decode()
claims = {"sub": "7f9c2ba4-e88f-11e4-9d8c-0800200c9a66", "iat": 1800000000, "exp": 4102444800, "level": "3.1",
          "scopes": "support:mobile,user:all", "key": "support", "data": "x" * 420}
print(b({"alg": "RS256", "typ": "JWT"}) + "." + b(claims) + "." + "c2lnbmF0dXJl" * 29)')
redis-cli -p "$port" set "$session" "$jwt" >/dev/null
/usr/bin/python3 -c 'import hashlib, sys; from itsdangerous import Signer; print(Signer(sys.argv[1], digest_method=hashlib.sha256).sign(sys.argv[2]).decode())' "$secret" "$session"
