package sessionjwt

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

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
