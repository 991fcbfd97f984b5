package sessionjwt

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDecodeClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	future, past := strconv.FormatInt(now.Unix()+60, 10), strconv.FormatInt(now.Unix()-1, 10)
	tests := []struct {
		name string
		jwt  string
		ok   bool
	}{
		{"no exp", makeJWT(`{"sub":"u1"}`), true},
		{"exp ahead", makeJWT(`{"sub":"u1","exp":` + future + `}`), true},
		{"exp with fraction", makeJWT(`{"exp":` + future + `.5}`), true},
		{"exp past", makeJWT(`{"sub":"u1","exp":` + past + `}`), false},
		{"exp now", makeJWT(`{"exp":` + strconv.FormatInt(now.Unix(), 10) + `}`), false},
		{"exp as string", makeJWT(`{"exp":"` + future + `"}`), true},
		{"exp not a number", makeJWT(`{"exp":"soon"}`), false},
		{"exp null", makeJWT(`{"exp":null}`), false},
		{"exp too large", makeJWT(`{"exp":1e400}`), false},
		{"EXP is not exp", makeJWT(`{"EXP":1,"eXp":"0"}`), true},
		{"padded payload", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9==.c2ln", true},
		{"two parts", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9", false},
		{"one part", "opaque-token", false},
		{"payload not base64", "a.!!!.c", false},
		{"payload not JSON", "a." + b64.EncodeToString([]byte("not json")) + ".c", false},
		{"payload an array", makeJWT(`["sub"]`), false},
		{"payload null", makeJWT(`null`), false},
		{"trailing garbage ignored only as JSON allows", makeJWT(`{"sub":"u1"} `), true},
	}
	for _, tt := range tests {
		if _, _, ok := decodeClaims(tt.jwt, now); ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
		}
	}
}

func decodedClaims(t *testing.T, payload string) map[string]json.RawMessage {
	t.Helper()
	c, _, ok := decodeClaims(makeJWT(payload), time.Now())
	if !ok {
		t.Fatalf("payload %s did not decode", payload)
	}
	return c
}

func TestRequirements(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(c *Config)
		payload string
		want    string // "" when allowed, else what the denial names
	}{
		{"scopes as comma string (seed 003)", func(c *Config) { c.RequiredScopes = []string{"support:mobile"} }, `{"scopes":"support:mobile,user:all"}`, ""},
		{"scopes as space string (OAuth)", func(c *Config) { c.RequiredScopes = []string{"user:all", "support:mobile"} }, `{"scope":"support:mobile user:all"}`, ""},
		{"scopes as array", func(c *Config) { c.RequiredScopes = []string{"support:mobile"} }, `{"scopes":["user:all","support:mobile"]}`, ""},
		{"scopes with both separators", func(c *Config) { c.RequiredScopes = []string{"b"} }, `{"scopes":"a, b ,c"}`, ""},
		{"scope missing", func(c *Config) { c.RequiredScopes = []string{"support:mobile", "admin", "user:all"} }, `{"scopes":"user:all"}`, "scopes support:mobile admin"},
		{"scope prefix is not the scope", func(c *Config) { c.RequiredScopes = []string{"support"} }, `{"scopes":"support:mobile"}`, "scopes support"},
		{"no scopes claim", func(c *Config) { c.RequiredScopes = []string{"a"} }, `{"sub":"u1"}`, "scopes a"},
		{"scopes claim an object", func(c *Config) { c.RequiredScopes = []string{"a"} }, `{"scopes":{"a":true}}`, "scopes a"},
		{"level number", func(c *Config) { c.MinimumLevel = "3" }, `{"level":3}`, ""},
		{"level string", func(c *Config) { c.MinimumLevel = "3" }, `{"level":"3.1"}`, ""},
		{"level fraction", func(c *Config) { c.MinimumLevel = "3.1" }, `{"level":3.1}`, ""},
		{"level fraction as string", func(c *Config) { c.MinimumLevel = "3.1" }, `{"level":"3.1"}`, ""},
		{"level too low", func(c *Config) { c.MinimumLevel = "3" }, `{"level":2}`, "level"},
		{"level string too low", func(c *Config) { c.MinimumLevel = "3.5" }, `{"level":"3.1"}`, "level"},
		{"level missing", func(c *Config) { c.MinimumLevel = "0" }, `{"sub":"u1"}`, "level"},
		{"level garbage", func(c *Config) { c.MinimumLevel = "1" }, `{"level":"high"}`, "level"},
		{"level NaN", func(c *Config) { c.MinimumLevel = "1" }, `{"level":"NaN"}`, "level"},
		{"level bool", func(c *Config) { c.MinimumLevel = "1" }, `{"level":true}`, "level"},
		{"claim string", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"support", "admin"}} }, `{"key":"admin"}`, ""},
		{"claim in array", func(c *Config) { c.RequiredClaims = map[string][]string{"roles": {"admin"}} }, `{"roles":["user","admin"]}`, ""},
		{"claim number", func(c *Config) { c.RequiredClaims = map[string][]string{"tenant": {"42"}} }, `{"tenant":42}`, ""},
		{"claim bool", func(c *Config) { c.RequiredClaims = map[string][]string{"dnt": {"false"}} }, `{"dnt":false}`, ""},
		{"claim wrong", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"admin"}} }, `{"key":"user"}`, "claim key"},
		{"claim missing", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"admin"}} }, `{"sub":"admin"}`, "claim key"},
		{"claim case matters", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"admin"}} }, `{"key":"Admin"}`, "claim key"},
		{"claim object", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"admin"}} }, `{"key":{"admin":1}}`, "claim key"},
		{"everything", func(c *Config) {
			c.RequiredScopes = []string{"support:mobile"}
			c.MinimumLevel = "3"
			c.RequiredClaims = map[string][]string{"key": {"support"}}
		}, `{"scopes":"support:mobile","level":"3.5","key":"support"}`, ""},
	}
	for _, tt := range tests {
		cfg := CreateConfig()
		tt.cfg(cfg)
		r, err := newRequirements(cfg)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := ""
		if d := r.check(decodedClaims(t, tt.payload)); d != nil {
			switch {
			case len(d.missingScopes) > 0:
				got = "scopes " + strings.Join(d.missingScopes, " ")
			case d.level:
				got = "level"
			default:
				got = "claim " + d.claim
			}
		}
		if got != tt.want {
			t.Errorf("%s: denial %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSetClaimHeaders(t *testing.T) {
	mapped := []claimHeader{
		{"sub", "X-User-Id"}, {"scopes", "X-User-Scopes"}, {"roles", "X-User-Roles"}, {"level", "X-User-Level"},
		{"id", "X-Numeric-Id"}, {"name", "X-User-Name"}, {"evil", "X-Evil"}, {"obj", "X-Obj"}, {"absent", "X-Absent"},
	}
	claims := decodedClaims(t, `{"sub":"u-1","scopes":"a,b","roles":["x","y"],"level":3.1,"id":12345678901234567890,`+
		`"name":"José","evil":"a\r\nX-Injected: 1","obj":{"a":1}}`)
	h := http.Header{}
	setClaimHeaders(h, mapped, claims)
	want := map[string]string{
		"X-User-Id": "u-1", "X-User-Scopes": "a,b", "X-User-Roles": "x,y", "X-User-Level": "3.1",
		"X-Numeric-Id": "12345678901234567890", "X-User-Name": "José",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("headers %v, want exactly %v", h, want)
	}
}

// A remembered decoding still expires with the JWT's exp, and is the same as a fresh one.
func TestRememberedClaimsExpire(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	jwt := makeJWT(`{"sub":"memo-` + randomID(t) + `","exp":` + strconv.FormatInt(now.Unix()+10, 10) + `}`)
	h, _ := newTestMiddleware(t, nil)
	m := h.(*SessionJWT)
	first := storedSession(m, "k", jwt, -1, now.UnixNano())
	if first == nil || first.expires != now.Add(10*time.Second).UnixNano() {
		t.Fatalf("first decoding: %+v", first)
	}
	if rememberedClaims(jwt) == nil {
		t.Fatal("the decoding was not remembered")
	}
	if again := storedSession(m, "k", jwt, -1, now.Add(9*time.Second+999*time.Millisecond).UnixNano()); again == nil ||
		string(again.claims["sub"]) != string(first.claims["sub"]) {
		t.Errorf("remembered decoding: %+v", again)
	}
	if storedSession(m, "k", jwt, -1, now.Add(10*time.Second).UnixNano()) != nil {
		t.Error("a remembered JWT authenticated at its exp")
	}
	if storedSession(m, "k", makeJWT(`{"exp":`+strconv.FormatInt(now.Unix()-1, 10)+`}`), -1, now.UnixNano()) != nil {
		t.Error("an expired JWT authenticated")
	}
	// A middleware that reads TTLs (here for its cache) ends the session at the key's TTL when that is first.
	cached, _ := newTestMiddleware(t, func(c *Config) { c.CacheTTL = "1h" })
	if got := storedSession(cached.(*SessionJWT), randomID(t), jwt, 3000, now.UnixNano()); got == nil ||
		got.expires != now.Add(3*time.Second).UnixNano() {
		t.Errorf("with a Redis TTL of 3 s before exp: %+v", got)
	}
}

// exp becomes the first nanosecond at which the JWT no longer authenticates, as decodeClaims counts
// whole seconds; an exp too far out for Unix nanoseconds means no expiry rather than an overflow.
func TestExpiresAt(t *testing.T) {
	tests := []struct {
		exp  float64
		want int64
	}{
		{0, noExpiry},
		{1_800_000_000, 1_800_000_000 * int64(time.Second)},
		{1_800_000_000.5, 1_800_000_001 * int64(time.Second)},
		{1e12, noExpiry},
		{1e300, noExpiry},
	}
	for _, tt := range tests {
		if got := expiresAt(tt.exp); got != tt.want {
			t.Errorf("expiresAt(%v) = %d, want %d", tt.exp, got, tt.want)
		}
	}
}
