package sessionjwt

import (
	"encoding/json"
	"strconv"
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

// A remembered decoding still expires with the JWT's exp, and is the same as a fresh one.
func TestRememberedClaimsExpire(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	jwt := makeJWT(`{"sub":"memo-` + randomID(t) + `","exp":` + strconv.FormatInt(now.Unix()+10, 10) + `}`)
	h, _ := newTestMiddleware(t, nil)
	m := h.(*SessionJWT)
	first := storedSession(m.store, "k", jwt, -1, now.UnixNano())
	if first == nil || first.expires != now.Add(10*time.Second).UnixNano() {
		t.Fatalf("first decoding: %+v", first)
	}
	if rememberedClaims(jwt) == nil {
		t.Fatal("the decoding was not remembered")
	}
	if again := storedSession(m.store, "k", jwt, -1, now.Add(9*time.Second+999*time.Millisecond).UnixNano()); again == nil ||
		string(again.claims["sub"]) != string(first.claims["sub"]) {
		t.Errorf("remembered decoding: %+v", again)
	}
	if storedSession(m.store, "k", jwt, -1, now.Add(10*time.Second).UnixNano()) != nil {
		t.Error("a remembered JWT authenticated at its exp")
	}
	if storedSession(m.store, "k", makeJWT(`{"exp":`+strconv.FormatInt(now.Unix()-1, 10)+`}`), -1, now.UnixNano()) != nil {
		t.Error("an expired JWT authenticated")
	}
	// A middleware that reads TTLs (here for its cache) ends the session at the key's TTL when that is first.
	cached, _ := newTestMiddleware(t, func(c *Config) { c.CacheTTL = "1h" })
	cachedMiddleware := cached.(*SessionJWT)
	cachedStore := cachedMiddleware.store
	if got := storedSession(cachedStore, randomID(t), jwt, 3000, now.UnixNano()); got == nil ||
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
