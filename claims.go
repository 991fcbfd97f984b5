package sessionjwt

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// decodeClaims reads the payload of a JWT found in our own Redis. Such a JWT is trusted as stored, so its
// signature is not checked here; it must still be a JWT whose payload is a JSON object, and it must not have
// expired; exp is returned too (0 when absent). Claims stay raw JSON, decoded only when a rule reads them, so numbers keep their exact spelling.
// (Decoding into a struct holding only exp is not cheaper under Yaegi, and encoding/json would match "EXP".)
func decodeClaims(jwt string, now time.Time) (map[string]json.RawMessage, float64, bool) {
	first := strings.IndexByte(jwt, '.')
	last := strings.LastIndexByte(jwt, '.')
	if first < 0 || first == last {
		return nil, 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(jwt[first+1:last], "="))
	if err != nil || len(payload) == 0 || payload[0] != '{' {
		return nil, 0, false
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil {
		return nil, 0, false
	}
	exp := 0.0
	if raw, ok := claims["exp"]; ok {
		// Usually a JSON number; claimNumber, which also reads strings, costs the interpreter more.
		if exp, err = strconv.ParseFloat(string(raw), 64); err != nil {
			exp, _ = claimNumber(raw) // 0 when it is not a number at all
		}
		if !(exp > float64(now.Unix())) {
			return nil, 0, false
		}
	}
	return claims, exp, true
}

// Decoding a payload costs the interpreter about as much as the rest of a request's own work, and a
// session's JWT is the same string request after request. decodedJWTs remembers the decoding of recent
// JWTs, keyed by the whole JWT, so that a repeated one costs one map lookup; its expiry is still compared
// with the clock on every request.
var (
	decodedMu   sync.RWMutex
	decodedJWTs = map[string]*decodedJWT{}
)

// decodedJWT is what decodeClaims read from a JWT.
type decodedJWT struct {
	claims  map[string]json.RawMessage // shared, never written after decoding
	expires int64                      // Unix nanoseconds from when exp has passed; noExpiry without exp
}

const (
	maxDecoded     = 4096 // when full, the map starts afresh; at most about 4096 x 2 x maxDecodedSize bytes
	maxDecodedSize = 4096 // longer JWTs are decoded every time
)

// rememberedClaims returns the decoding of a JWT decoded before, nil when there is none.
func rememberedClaims(jwt string) *decodedJWT {
	decodedMu.RLock()
	d := decodedJWTs[jwt]
	decodedMu.RUnlock()
	return d
}

// decodeAndRemember decodes a JWT (see decodeClaims) and remembers it; nil when it does not authenticate.
func decodeAndRemember(jwt string, now int64) *decodedJWT {
	claims, exp, ok := decodeClaims(jwt, time.Unix(0, now))
	if !ok {
		return nil
	}
	d := &decodedJWT{claims: claims, expires: expiresAt(exp)}
	if len(jwt) <= maxDecodedSize {
		decodedMu.Lock()
		if len(decodedJWTs) >= maxDecoded {
			decodedJWTs = map[string]*decodedJWT{}
		}
		decodedJWTs[jwt] = d
		decodedMu.Unlock()
	}
	return d
}

// expiresAt converts a JWT's exp (Unix seconds, 0 when absent) into the first Unix nanosecond at which it
// has passed: as decodeClaims counts, a JWT is valid while the current whole second is before exp.
func expiresAt(exp float64) int64 {
	if exp == 0 || exp >= float64(noExpiry/int64(time.Second)) {
		return noExpiry
	}
	return int64(math.Ceil(exp)) * int64(time.Second)
}

// claimNumber reads a claim that holds a number, written as a JSON number or as a string ("3.1").
func claimNumber(raw json.RawMessage) (float64, bool) {
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// claimStrings reads a claim as a list of strings: a string, number or boolean is a list of one (numbers as
// written in the token), an array of such values is their list. Objects and nulls read as nothing.
func claimStrings(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		return []string{s}
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return nil
		}
		var out []string
		for _, e := range list {
			if len(e) > 0 && e[0] != '[' {
				out = append(out, claimStrings(e)...)
			}
		}
		return out
	case '{':
		return nil
	case 'n':
		return nil
	}
	return []string{string(raw)}
}

// scopesOf returns the granted scopes: the "scopes" claim, or else "scope", each as an array or as a
// string separated by commas or spaces (seed 003 joins with commas, OAuth with spaces).
func scopesOf(claims map[string]json.RawMessage) []string {
	raw, ok := claims["scopes"]
	if !ok {
		raw = claims["scope"]
	}
	list := claimStrings(raw)
	if len(raw) > 0 && raw[0] == '"' && len(list) == 1 {
		return strings.Fields(strings.ReplaceAll(list[0], ",", " "))
	}
	return list
}

// requirements are what an authenticated request's claims must satisfy to be forwarded.
type requirements struct {
	scopes   []string
	level    float64
	hasLevel bool
	claims   map[string][]string
}

// denial says which requirement a request failed; it becomes the 403 answer.
type denial struct {
	missingScopes []string
	level         bool
	claim         string
}

// check returns nil when claims satisfy every requirement.
func (r requirements) check(claims map[string]json.RawMessage) *denial {
	if len(r.scopes) > 0 {
		granted := scopesOf(claims)
		var missing []string
		for _, want := range r.scopes {
			if !contains(granted, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) > 0 {
			return &denial{missingScopes: missing}
		}
	}
	if r.hasLevel {
		level, ok := claimNumber(claims["level"])
		if !ok || level < r.level {
			return &denial{level: true}
		}
	}
	for name, allowed := range r.claims {
		found := false
		for _, v := range claimStrings(claims[name]) {
			if contains(allowed, v) {
				found = true
				break
			}
		}
		if !found {
			return &denial{claim: name}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// forbidden writes the 403 answer: what was missing, never what the token held.
func forbidden(rw http.ResponseWriter, realm string, r requirements, d *denial) {
	body := map[string]interface{}{"error": "insufficient_scope"}
	challenge := `Bearer realm="` + realm + `", error="insufficient_scope"`
	if len(d.missingScopes) > 0 {
		body["missing_scopes"] = d.missingScopes
		challenge += `, scope="` + strings.Join(r.scopes, " ") + `"`
	} else if d.level {
		body["error"] = "insufficient_level"
		body["minimum_level"] = r.level
	} else {
		body["error"] = "claim_not_allowed"
		body["claim"] = d.claim
	}
	b, _ := json.Marshal(body)
	rw.Header().Set("WWW-Authenticate", challenge)
	writeError(rw, http.StatusForbidden, append(b, '\n'))
}

// claimHeader maps a claim to the request header that carries it to the backend.
type claimHeader struct {
	claim  string
	header string // canonical
}

// controlChars may not appear in a forwarded header value.
const controlChars = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"

// setClaimHeaders sets each mapped header the claims provide; lists are joined with commas. The client's
// copies were deleted on entry. A value with control characters is left out rather than forwarded.
func setClaimHeaders(h http.Header, mapped []claimHeader, claims map[string]json.RawMessage) {
	for _, ch := range mapped {
		value := strings.Join(claimStrings(claims[ch.claim]), ",")
		if value != "" && !strings.ContainsAny(value, controlChars) {
			h[ch.header] = []string{value}
		}
	}
}

// newRequirements validates requiredScopes, minimumLevel and requiredClaims.
func newRequirements(c *Config) (requirements, error) {
	r := requirements{claims: map[string][]string{}}
	for i, s := range c.RequiredScopes {
		if s == "" || strings.ContainsAny(s, ", \t") {
			return r, fmt.Errorf("requiredScopes[%d] %q must be one non-empty scope without commas or spaces", i, s)
		}
		r.scopes = append(r.scopes, s)
	}
	if c.MinimumLevel != "" {
		level, ok := claimNumber(json.RawMessage(c.MinimumLevel)) // read as the level claim is
		if !ok {
			return r, fmt.Errorf("minimumLevel %q is not a number (e.g. 3 or 3.1)", c.MinimumLevel)
		}
		r.level = level
		r.hasLevel = true
	}
	for name, allowed := range c.RequiredClaims {
		if name == "" || len(allowed) == 0 {
			return r, fmt.Errorf("requiredClaims %q needs a claim name and at least one allowed value", name)
		}
		r.claims[name] = allowed
	}
	return r, nil
}

// newClaimHeaders validates claimHeaders. The injected header and the cookie cannot be targets, in any
// spelling a backend reads as them (see cgiName).
func newClaimHeaders(c *Config, injected string) ([]claimHeader, error) {
	var out []claimHeader
	used := map[string]string{}
	for claim, header := range c.ClaimHeaders {
		canonical := http.CanonicalHeaderKey(header)
		if claim == "" || !isToken(header) {
			return nil, fmt.Errorf("claimHeaders %q: %q is not a valid header name", claim, header)
		}
		name := cgiName(header)
		if name == cgiName(injected) || name == "cookie" || name == "host" || name == "authorization" {
			return nil, fmt.Errorf("claimHeaders %q: header %s is not available for claims", claim, canonical)
		}
		if other, ok := used[name]; ok {
			return nil, fmt.Errorf("claimHeaders %q and %q both map to header %s", other, claim, canonical)
		}
		used[name] = claim
		out = append(out, claimHeader{claim: claim, header: canonical})
	}
	return out, nil
}
