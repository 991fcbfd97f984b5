package sessionjwt

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// jwtFixtures is testdata/jwt.json, written by tools/fixtures/jwt_fixtures.py with the real PyJWT.
type jwtFixtures struct {
	Now        int64             `json:"now"`
	Issuer     string            `json:"issuer"`
	Audience   string            `json:"audience"`
	HMACSecret string            `json:"hmacSecret"`
	JWKS       json.RawMessage   `json:"jwks"`
	PEM        map[string]string `json:"pem"`
	Cases      []struct {
		Name  string `json:"name"`
		Token string `json:"token"`
		Want  string `json:"want"`
	} `json:"cases"`
}

func loadJWTFixtures(t testing.TB) jwtFixtures {
	t.Helper()
	b, err := os.ReadFile("testdata/jwt.json")
	if err != nil {
		t.Fatal(err)
	}
	var f jwtFixtures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func fixtureVerifier(t testing.TB, f jwtFixtures, keys func(c *JWTConfig)) *jwtVerifier {
	t.Helper()
	c := CreateConfig().JWT
	c.HMACSecret = f.HMACSecret
	c.Issuers = []string{f.Issuer}
	c.Audiences = []string{"another-api", f.Audience}
	keys(&c)
	v, err := newJWTVerifier(&c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Every PyJWT-made token gets the verdict the fixtures record, with the keys as a JWKS and as PEM.
func TestVerifyPyJWTFixtures(t *testing.T) {
	f := loadJWTFixtures(t)
	now := time.Unix(f.Now, 0)
	byJWKS := fixtureVerifier(t, f, func(c *JWTConfig) { c.JWKS = string(f.JWKS) })
	byPEM := fixtureVerifier(t, f, func(c *JWTConfig) {
		for _, name := range []string{"rsa", "p256", "p384", "p521", "ed25519"} {
			c.PublicKeys = append(c.PublicKeys, f.PEM[name])
		}
	})
	if len(f.Cases) < 40 {
		t.Fatalf("only %d cases in testdata/jwt.json", len(f.Cases))
	}
	for _, tc := range f.Cases {
		for _, v := range []struct {
			keys string
			v    *jwtVerifier
		}{{"JWKS", byJWKS}, {"PEM", byPEM}} {
			want := tc.Want
			if v.keys == "PEM" && want == "unknown_key" {
				want = "" // PEM keys carry no kid: every key of the right type is tried, and the right one fits
			}
			claims, reason := verifyJWT(v.v, tc.Token, now)
			if reason != want {
				t.Errorf("%s (%s): reason %q, want %q", tc.Name, v.keys, reason, want)
			}
			if reason == "" && string(claims["sub"]) != `"user-1"` {
				t.Errorf("%s (%s): claims %v", tc.Name, v.keys, claims)
			}
		}
	}
}

// The allow-list is the last word: a valid RS256 token fails when only ES256 is allowed, and a verifier
// without an HMAC secret never accepts HS256, whatever key the header names.
func TestAlgorithmAllowList(t *testing.T) {
	f := loadJWTFixtures(t)
	now := time.Unix(f.Now, 0)
	tokens := map[string]string{}
	for _, tc := range f.Cases {
		tokens[tc.Name] = tc.Token
	}
	onlyES := fixtureVerifier(t, f, func(c *JWTConfig) { c.JWKS = string(f.JWKS); c.Algorithms = []string{"ES256"} })
	if _, reason := verifyJWT(onlyES, tokens["RS256"], now); reason != reasonAlgorithm {
		t.Errorf("RS256 with only ES256 allowed: %q", reason)
	}
	if _, reason := verifyJWT(onlyES, tokens["ES256"], now); reason != "" {
		t.Errorf("ES256 with ES256 allowed: %q", reason)
	}
	noSecret := fixtureVerifier(t, f, func(c *JWTConfig) { c.HMACSecret = ""; c.JWKS = string(f.JWKS) })
	for _, name := range []string{"HS256", "HS256 keyed with the RSA public key PEM"} {
		if _, reason := verifyJWT(noSecret, tokens[name], now); reason != reasonAlgorithm {
			t.Errorf("%s without an HMAC secret: %q", name, reason)
		}
	}
}

func TestJWTConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *JWTConfig)
		wantErr string
	}{
		{"alg none", func(c *JWTConfig) { c.JWKS = `{"keys":[]}`; c.Algorithms = []string{"none"} }, "jwt.jwks"},
		{"unknown alg", func(c *JWTConfig) { c.HMACSecret = strings.Repeat("k", 32); c.Algorithms = []string{"none"} }, `jwt.algorithms[0] "none"`},
		{"HS without secret", func(c *JWTConfig) { c.PublicKeys = []string{testPEM(t)}; c.Algorithms = []string{"HS256"} }, "needs jwt.hmacSecret"},
		{"short secret", func(c *JWTConfig) { c.HMACSecret = "short" }, "at least 32 bytes"},
		{"bad PEM", func(c *JWTConfig) { c.PublicKeys = []string{"not a key"} }, "jwt.publicKeys[0]"},
		{"private key PEM", func(c *JWTConfig) {
			c.PublicKeys = []string{"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}
		}, "not a public key"},
		{"missing key file", func(c *JWTConfig) { c.PublicKeyFiles = []string{"/nonexistent/key.pem"} }, "jwt.publicKeyFiles[0]"},
		{"JWKS URL", func(c *JWTConfig) { c.JWKSURLs = []string{"ftp://idp/keys"} }, "jwt.jwksURLs[0]"},
		{"leeway", func(c *JWTConfig) { c.HMACSecret = strings.Repeat("k", 32); c.Leeway = "-1s" }, "jwt.leeway"},
		{"timeout", func(c *JWTConfig) { c.HMACSecret = strings.Repeat("k", 32); c.JWKSTimeout = "0s" }, "jwt.jwksTimeout"},
		{"verifyStored without keys", func(c *JWTConfig) { c.VerifyStored = true }, "jwt.verifyStored needs keys"},
	}
	for _, tt := range tests {
		cfg := CreateConfig()
		cfg.SecretKey = "x"
		tt.edit(&cfg.JWT)
		_, err := New(context.Background(), &backend{}, cfg, "bad")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}

// jwt.verifyStored: JWTs from Redis must verify too, and HS256 client tokens work with a secret.
func TestVerifyStoredAndHMAC(t *testing.T) {
	secret := strings.Repeat("s", 32)
	good, forged := randomID(t), randomID(t)
	goodJWT := hs256(secret, `{"sub":"u1","exp":`+future()+`}`)
	storeSession(t, good, goodJWT)
	storeSession(t, forged, hs256(strings.Repeat("x", 32), `{"sub":"u1","exp":`+future()+`}`))
	h, next := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.HMACSecret = secret
		c.JWT.VerifyStored = true
	})
	captureLog(t)
	runPolicyCases(t, h, next, []policyCase{
		{name: "stored JWT that verifies", target: "/api", session: good, status: 200, backend: "Bearer " + goodJWT},
		{name: "stored JWT that does not", target: "/api", session: forged, status: 401, backend: "-"},
	})
	req := requestWithCookie("", "")
	req.Header.Set("Authorization", "Bearer "+goodJWT)
	if rec := serve(h, req); rec.Code != 200 {
		t.Errorf("HS256 client token: status %d", rec.Code)
	}
}
