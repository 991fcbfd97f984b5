#!/usr/bin/env bash
# Writes an RSA key pair into DIR (DIR/rs256.pub is what the jwt route trusts) and prints two RS256 JWTs of
# the session's size, one per line: a valid one, and the same claims with the signature of other claims
# (well-formed, right length, does not verify). `make bench` measures a client that repeats the valid one
# and one that sends a token that must be verified in full and refused every time.
#   bench/jwt.sh DIR
set -euo pipefail
dir="${1:?directory}"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/rs256.key" 2>/dev/null
openssl pkey -in "$dir/rs256.key" -pubout -out "$dir/rs256.pub"
/usr/bin/python3 - "$dir/rs256.key" <<'PY'
import base64, json, subprocess, sys
key = sys.argv[1]
b = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
def sign(claims):
    head = b(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b(json.dumps(claims, separators=(",", ":")).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=(head + "." + body).encode(),
                         capture_output=True, check=True).stdout
    return head + "." + body, b(sig)
claims = {"sub": "7f9c2ba4-e88f-11e4-9d8c-0800200c9a66", "iss": "https://idp.bench", "iat": 1700000000,
          "exp": 4102444800, "level": "3.1", "scopes": "support:mobile,user:all", "key": "support", "data": "x" * 420}
signed, sig = sign(claims)
print(signed + "." + sig)
other = dict(claims, sub="someone-else")
print(signed + "." + sign(other)[1])
PY
