package sessionjwt

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// `make fuzz` runs these; `make test` runs their seed corpora (testdata/fuzz) as ordinary tests.

func FuzzUnsign(f *testing.F) {
	plain, err := newSigner([]string{"k"}, "itsdangerous.Signer", "django-concat", "sha256", ".", 0)
	if err != nil {
		f.Fatal(err)
	}
	timed, err := newSigner([]string{"k"}, "itsdangerous.Signer", "django-concat", "sha256", ".", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1767225600, 0)
	f.Add(signForTest(plain, "0b9e8d52-3c3a-4f7e-9a57-7d4d1f6b2c11", 0))
	f.Add(signForTest(timed, "0b9e8d52-3c3a-4f7e-9a57-7d4d1f6b2c11", now.Unix()-10))
	f.Fuzz(func(t *testing.T, signed string) {
		if value, _, ok := unsign(plain, signed, now); ok {
			if signForTest(plain, value, 0) != signed {
				t.Fatalf("accepted %q, which is not the signature of %q", signed, value)
			}
		}
		if value, _, ok := unsign(timed, signed, now); ok {
			if !strings.HasPrefix(signed, value+".") {
				t.Fatalf("accepted %q for value %q", signed, value)
			}
			if _, _, ok := unsign(plain, signed, now); !ok {
				t.Fatalf("timestamped value %q has no valid outer signature", signed)
			}
		}
	})
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*2\r\n$1\r\na\r\n:2\r\n", "*-1\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := readerConn(string(in))
		reply, err := c.readReplyForTest()
		if err == nil && reply != nil {
			if b, ok := reply.([]byte); ok && len(b) > maxBulkLen {
				t.Fatalf("bulk of %d bytes beyond the limit", len(b))
			}
		}
	})
}

// FuzzPublicPaths: whatever the spelling, a path read as public stays public however a backend cleans it.
func FuzzPublicPaths(f *testing.F) {
	public, err := newPublicPaths([]string{"/health", "/static/*"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/health", "/static/a.css", "/static/../admin", "//admin", "/static/..;/admin", "/static/%2e%2e/admin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !public.match(p) {
			return
		}
		clean := cleanPath(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if !public.matchOne(clean) || !public.matchOne(p) || strings.ContainsAny(p, ";%\\") {
			t.Fatalf("%q matched a public entry, but cleaned it reads %q", p, clean)
		}
		if strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			if !strings.HasPrefix(clean, "/static/") {
				t.Fatalf("%q climbs out of a public prefix", p)
			}
		}
	})
}

// FuzzClaims: no payload makes decoding, the requirements or the claim headers panic or forward a control
// character.
func FuzzClaims(f *testing.F) {
	for _, s := range []string{`{"sub":"u","scopes":"a,b","level":"3.1","exp":4102444800}`, `{"scopes":["a",["b"],{"c":1}],"level":3}`,
		`{"exp":"1e400"}`, `{"sub":"a\r\nb"}`, `[]`, `null`} {
		f.Add(s)
	}
	r := requirements{scopes: []string{"a"}, level: 3, hasLevel: true, claims: map[string][]string{"sub": {"u"}}}
	mapped := []claimHeader{{"sub", "X-Sub"}, {"scopes", "X-Scopes"}, {"level", "X-Level"}}
	now := time.Unix(1767225600, 0)
	f.Fuzz(func(t *testing.T, payload string) {
		jwt := makeJWT(payload)
		claims, _, ok := decodeClaims(jwt, now)
		if !ok {
			return
		}
		r.check(claims)
		h := http.Header{}
		setClaimHeaders(h, mapped, claims)
		for k, v := range h {
			if strings.ContainsAny(v[0], controlChars) {
				t.Fatalf("payload %q: header %s = %q", payload, k, v[0])
			}
		}
	})
}

// FuzzVerifyJWT: no input makes the verifier panic, and nothing verifies unless it is signed by a key
// of the fixtures (the fuzzer cannot forge signatures, so any token it makes verify is a bug).
func FuzzVerifyJWT(f *testing.F) {
	fixtures := loadJWTFixtures(f)
	v := fixtureVerifier(f, fixtures, func(c *JWTConfig) { c.JWKS = string(fixtures.JWKS) })
	valid := map[string]bool{}
	for _, tc := range fixtures.Cases {
		f.Add(tc.Token)
		if tc.Want == "" {
			valid[tc.Token] = true
		}
	}
	now := time.Unix(fixtures.Now, 0)
	f.Fuzz(func(t *testing.T, token string) {
		claims, reason := verifyJWT(v, token, now)
		if reason == "" && !valid[token] {
			// Only another spelling of a fixture's signing input with the same signature may pass.
			last := strings.LastIndexByte(token, '.')
			found := false
			for tok := range valid {
				if strings.HasPrefix(tok, token[:last+1]) {
					found = true
				}
			}
			if !found {
				t.Fatalf("a token no fixture signed verified: %q (claims %v)", token, claims)
			}
		}
	})
}
