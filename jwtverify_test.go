package sessionjwt

import (
	"context"
	"encoding/json"
	"net/http"
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

// twoProviders is the seed's setup: provider "alpha" signs RS256 with the keys at one JWKS server,
// "beta" ES256 at another, each with its own issuer and audience.
type twoProviders struct {
	alpha, beta     *keySigner
	alphaJ, betaJ   *jwksServer
	alphaIss, betaI string
}

func newTwoProviders(t *testing.T) *twoProviders {
	p := &twoProviders{alpha: newRSASigner(t, "a1"), beta: newECSigner(t, "b1"),
		alphaIss: "https://alpha.example/", betaI: "https://beta.example"}
	p.alphaJ = newJWKSServer(t, `{"keys":[`+p.alpha.jwk()+`]}`)
	p.betaJ = newJWKSServer(t, `{"keys":[`+p.beta.jwk()+`]}`)
	return p
}

func (p *twoProviders) config(c *Config) {
	c.Unauthenticated = "reject"
	c.JWT.Providers = map[string]JWTProvider{
		"alpha": {Issuer: p.alphaIss, Audiences: []string{"orders"}, JWKSURLs: []string{p.alphaJ.url}},
		"beta":  {Issuer: p.betaI, Audiences: []string{"billing"}, JWKSURLs: []string{p.betaJ.url}, Algorithms: []string{"ES256"}},
	}
}

func claimsFor(iss, aud string) string {
	return `{"sub":"u1","iss":"` + iss + `","aud":"` + aud + `","exp":` + future() + `}`
}

// callWithToken sends token as a Bearer token and returns the status and the answer's body.
func callWithToken(h http.Handler, token string) (int, string) {
	req := requestWithCookie("", "")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := serve(h, req)
	return rec.Code, rec.Body.String()
}

// A token is valid only when one provider's keys verify it and that same provider's issuer and audience
// match: a key of one provider never vouches for a token naming another, and a provider's JWKS is not
// fetched for tokens naming another.
func TestProvidersNeverAcceptAnotherProvidersToken(t *testing.T) {
	p := newTwoProviders(t)
	h, next := newTestMiddleware(t, p.config)
	tests := []struct {
		name, token, wantReason string
	}{
		{"alpha's own", p.alpha.sign(claimsFor(p.alphaIss, "orders")), ""},
		{"beta's own", p.beta.sign(claimsFor(p.betaI, "billing")), ""},
		{"alpha's key, beta's issuer and audience", p.alpha.sign(claimsFor(p.betaI, "billing")), reasonAlgorithm},
		{"beta's key, alpha's issuer and audience", p.beta.sign(claimsFor(p.alphaIss, "orders")), reasonUnknownKey},
		{"alpha's key and issuer, beta's audience", p.alpha.sign(claimsFor(p.alphaIss, "billing")), reasonAudience},
		{"an issuer no provider has", p.alpha.sign(claimsFor("https://alpha.example", "orders")), reasonIssuer},
		{"no issuer", p.alpha.sign(`{"sub":"u1","aud":"orders","exp":` + future() + `}`), reasonIssuer},
	}
	for _, tt := range tests {
		status, body := callWithToken(h, tt.token)
		if tt.wantReason == "" {
			if _, got := next.seen(); status != 200 || got.Get("Authorization") != "Bearer "+tt.token {
				t.Errorf("%s: status %d %s", tt.name, status, body)
			}
			continue
		}
		if status != 401 || !strings.Contains(body, `"reason":"`+tt.wantReason+`"`) {
			t.Errorf("%s: status %d %s, want 401 for %s", tt.name, status, body, tt.wantReason)
		}
	}
	// Same key id at both, and beta's algorithms opened: alpha's signature still fails with beta's key.
	p.betaJ.serve(`{"keys":[` + p.beta.jwk() + `]}`)
	forged := newRSASigner(t, "b1").sign(claimsFor(p.betaI, "billing"))
	if status, _ := callWithToken(h, forged); status != 401 {
		t.Errorf("an RS256 token naming beta's kid got %d", status)
	}
	if a, b := p.alphaJ.fetches.Load(), p.betaJ.fetches.Load(); a != 1 || b != 1 {
		t.Errorf("JWKS fetches: alpha %d, beta %d; want one each", a, b)
	}
}

// A reload with other providers takes effect for the new middleware only; the old one, which Traefik
// keeps serving until the switch, goes on as configured, and neither serves the other's remembered
// tokens.
func TestProvidersUnderReload(t *testing.T) {
	p := newTwoProviders(t)
	old, _ := newTestMiddleware(t, p.config)
	betaToken := p.beta.sign(claimsFor(p.betaI, "billing"))
	alphaToken := p.alpha.sign(claimsFor(p.alphaIss, "orders"))
	for _, tok := range []string{alphaToken, betaToken} {
		if status, body := callWithToken(old, tok); status != 200 {
			t.Fatalf("before the reload: %d %s", status, body)
		}
	}
	// The new configuration drops beta and wants another audience of alpha.
	reloaded, _ := newTestMiddleware(t, func(c *Config) {
		p.config(c)
		c.JWT.Providers = map[string]JWTProvider{
			"alpha": {Issuer: p.alphaIss, Audiences: []string{"orders-v2"}, JWKSURLs: []string{p.alphaJ.url}},
		}
	})
	if status, body := callWithToken(reloaded, betaToken); status != 401 || !strings.Contains(body, reasonIssuer) {
		t.Errorf("beta's token after beta left: %d %s", status, body)
	}
	if status, body := callWithToken(reloaded, alphaToken); status != 401 || !strings.Contains(body, reasonAudience) {
		t.Errorf("alpha's token for the old audience after the reload: %d %s", status, body)
	}
	for _, tok := range []string{alphaToken, betaToken} {
		if status, _ := callWithToken(old, tok); status != 200 {
			t.Errorf("the old middleware changed with the reload: %d", status)
		}
	}
	// Both providers' JWKS were shared across the reload: no fetch more.
	if a, b := p.alphaJ.fetches.Load(), p.betaJ.fetches.Load(); a != 1 || b != 1 {
		t.Errorf("JWKS fetches: alpha %d, beta %d; want one each", a, b)
	}
}

func TestProviderConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *JWTConfig)
		wantErr string
	}{
		{"no issuer", func(c *JWTConfig) { c.Providers = map[string]JWTProvider{"a": {JWKS: `{"keys":[]}`}} }, "jwt.providers.a.issuer is required"},
		{"flat keys too", func(c *JWTConfig) {
			c.Providers = map[string]JWTProvider{"a": {Issuer: "https://a"}}
			c.Issuers = []string{"https://a"}
		}, "set either jwt.providers or the keys of one provider"},
		{"undiscoverable issuer", func(c *JWTConfig) { c.Providers = map[string]JWTProvider{"a": {Issuer: "alpha"}} }, `jwt.providers.a.issuer "alpha" is not an http(s) URL`},
		{"issuer with a query", func(c *JWTConfig) { c.Providers = map[string]JWTProvider{"a": {Issuer: "https://a/?x=1"}} }, `jwt.providers.a.issuer`},
		{"bad JWKS URL", func(c *JWTConfig) {
			c.Providers = map[string]JWTProvider{"b": {Issuer: "x", JWKSURLs: []string{"ftp://k"}}}
		}, "jwt.providers.b.jwksURLs[0] is not an absolute"},
		{"bad algorithm", func(c *JWTConfig) {
			c.Providers = map[string]JWTProvider{"b": {Issuer: "x", HMACSecret: strings.Repeat("k", 32), Algorithms: []string{"none"}}}
		}, `jwt.providers.b.algorithms[0] "none"`},
		{"short secret", func(c *JWTConfig) { c.Providers = map[string]JWTProvider{"b": {Issuer: "x", HMACSecret: "short"}} }, "jwt.providers.b.hmacSecret must be at least 32 bytes"},
	}
	for _, tt := range tests {
		c := CreateConfig().JWT
		tt.edit(&c)
		if _, err := newJWTVerifier(&c); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}
