package sessionjwt

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The gate decides what happens to a request once the identification (ServeHTTP, tokens.go) is done:
// an authenticated request is checked against the requirements and forwarded with its JWT; one without
// credentials, with refused ones, or whose session the datastore could not read gets the configured
// policy. Public paths are exempt from every refusal.

// gate holds the policy keys of one middleware and the handler it forwards to.
type gate struct {
	next   http.Handler
	header string // canonical headerName: where the JWT goes

	unauthenticated    string // policyPass, policyStrip, policyReject or policyLogin
	failOpen           bool   // redisFailure: pass
	anonymousPreflight bool   // preflight: anonymous
	public             publicPaths
	loginURL           *url.URL // policyLogin only
	loginParam         string
	realm              string
	challenge          string // WWW-Authenticate of a 401

	requirements    requirements
	hasRequirements bool
	claimHeaders    []claimHeader
	refresh         *refresher  // nil: no session refresh
	authorizer      *authorizer // nil: no delegated authorization (authorize.go)
	checksClaims    bool        // any of requirements, claimHeaders, refresh and authorizer: see checkClaims
}

// forwardedHeader validates headerName and headerType: the canonical header the JWT goes in, and what
// precedes the JWT in its value ("Bearer " or "").
func forwardedHeader(c *Config) (string, string, error) {
	if !isToken(c.HeaderName) {
		return "", "", fmt.Errorf("headerName %q is not a valid header name", c.HeaderName)
	}
	valuePrefix := ""
	if c.HeaderType != "" {
		if !isToken(c.HeaderType) {
			return "", "", fmt.Errorf("headerType %q must be a single word such as Bearer, or empty", c.HeaderType)
		}
		valuePrefix = c.HeaderType + " "
	}
	return http.CanonicalHeaderKey(c.HeaderName), valuePrefix, nil
}

// newGate validates the policy keys (unauthenticated, redisFailure, preflight, publicPaths, loginURL,
// loginParam, realm) and the requirements and claim headers.
func newGate(c *Config, next http.Handler, header string, refresh *refresher, authz *authorizer) (*gate, error) {
	switch c.Unauthenticated {
	case policyPass, policyStrip, policyReject, policyLogin:
	default:
		return nil, fmt.Errorf("unauthenticated %q is not one of pass, strip, reject, login", c.Unauthenticated)
	}
	switch c.RedisFailure {
	case policyPass, policyReject:
	default:
		return nil, fmt.Errorf("redisFailure %q is not one of reject, pass", c.RedisFailure)
	}
	switch c.Preflight {
	case preflightAnonymous, preflightAuthenticate:
	default:
		return nil, fmt.Errorf("preflight %q is not one of anonymous, authenticate", c.Preflight)
	}
	public, err := newPublicPaths(c.PublicPaths)
	if err != nil {
		return nil, err
	}
	var loginURL *url.URL
	if c.Unauthenticated == policyLogin {
		if c.LoginURL == "" {
			return nil, errors.New("loginURL is required with unauthenticated: login")
		}
		if loginURL, err = parseLoginURL(c.LoginURL); err != nil {
			return nil, err
		}
		if !isToken(c.LoginParam) {
			return nil, fmt.Errorf("loginParam %q is not a valid query parameter name (e.g. \"next\")", c.LoginParam)
		}
		// The login page itself must stay reachable, or browsers would loop.
		if !loginURL.IsAbs() {
			public.exact[loginURL.Path] = true
		}
	} else if c.LoginURL != "" {
		return nil, fmt.Errorf("loginURL is set but unauthenticated is %q: set unauthenticated: login to redirect browsers", c.Unauthenticated)
	}
	if c.Realm == "" || !headerSafe(c.Realm) || strings.ContainsAny(c.Realm, "\"\\") {
		return nil, fmt.Errorf("realm %q must be non-empty printable ASCII without quotes or backslashes", c.Realm)
	}
	reqs, err := newRequirements(c)
	if err != nil {
		return nil, err
	}
	claimHeaders, err := newClaimHeaders(c, header)
	if err != nil {
		return nil, err
	}
	hasRequirements := len(reqs.scopes) > 0 || reqs.hasLevel || len(reqs.claims) > 0
	return &gate{
		next:               next,
		header:             header,
		unauthenticated:    c.Unauthenticated,
		failOpen:           c.RedisFailure == policyPass,
		anonymousPreflight: c.Preflight == preflightAnonymous,
		public:             public,
		loginURL:           loginURL,
		loginParam:         c.LoginParam,
		realm:              c.Realm,
		challenge:          `Bearer realm="` + c.Realm + `"`,
		requirements:       reqs,
		hasRequirements:    hasRequirements,
		claimHeaders:       claimHeaders,
		refresh:            refresh,
		authorizer:         authz,
		checksClaims:       hasRequirements || claimHeaders != nil || refresh != nil || authz != nil,
	}, nil
}

// forward sends a request authenticated by a client token on: its requirements met (else 403), its JWT in
// the header, its claim headers set. (ServeHTTP has these lines written out for sessions, which it may
// also refresh.)
func forward(g *gate, rw http.ResponseWriter, req *http.Request, s *session, now int64) {
	if g.checksClaims && !checkClaims(g, rw, req, s, now, false) {
		return
	}
	req.Header[g.header] = []string{s.authorization} // one value replaces every client-supplied copy
	g.next.ServeHTTP(rw, req)
}

// checkClaims does what only some configurations ask of an authenticated request: it answers 403 and
// returns false when the requirements are not met, sets the claim headers, and refreshes a session about
// to expire.
func checkClaims(g *gate, rw http.ResponseWriter, req *http.Request, s *session, now int64, bySession bool) bool {
	if g.hasRequirements {
		if d := g.requirements.check(s.claims); d != nil && !exempt(g, req) {
			forbidden(rw, g.realm, g.requirements, d)
			return false
		}
	}
	// Before the claim headers: tinyauth is asked with the client's headers, not the gateway's.
	if g.authorizer != nil && !authorizeRequest(g.authorizer, g, rw, req, s) {
		return false
	}
	if g.claimHeaders != nil {
		setClaimHeaders(req.Header, g.claimHeaders, s.claims)
	}
	if g.refresh != nil && bySession {
		maybeRefresh(g.refresh, rw, req, s, now)
	}
	return true
}

// exempt reports a request that authentication never blocks: a public path. (Preflights under
// preflight: anonymous never get this far; under authenticate they are requests like any other.)
func exempt(g *gate, req *http.Request) bool {
	return g.public.match(req.URL.Path)
}

// servedPreflight forwards a CORS preflight without authenticating it under preflight: anonymous, and
// so without any credential: browsers send none on a preflight, so a cookie or token there is a client's
// own making, and a backend that answers OPTIONS like GET must not take it for one the gateway checked.
// It reports whether it did; other requests are left to authentication.
func servedPreflight(g *gate, rw http.ResponseWriter, req *http.Request) bool {
	if !g.anonymousPreflight || !isPreflight(req) {
		return false
	}
	delete(req.Header, g.header)
	delete(req.Header, "Authorization")
	delete(req.Header, "Cookie")
	g.next.ServeHTTP(rw, req)
	return true
}

// serveStoreFailure answers when the datastore could not: the redisFailure policy, except on exempt
// requests, which authentication never blocks.
func serveStoreFailure(g *gate, rw http.ResponseWriter, req *http.Request) {
	if g.failOpen || exempt(g, req) {
		serveUnauthenticated(g, rw, req)
		return
	}
	writeError(rw, http.StatusServiceUnavailable, bodyStoreUnavailable)
}

// serveUnauthenticated applies the unauthenticated policy to a request without valid credentials.
func serveUnauthenticated(g *gate, rw http.ResponseWriter, req *http.Request) {
	if g.authorizer != nil && (g.unauthenticated == policyPass || g.unauthenticated == policyStrip) &&
		!authorizeRequest(g.authorizer, g, rw, req, nil) {
		return // tinyauth may know callers the gateway does not (its own cookie, access keys)
	}
	switch g.unauthenticated {
	case policyPass:
	case policyStrip:
		delete(req.Header, g.header)
	default:
		// reject and login; exempt requests go on as strip would send them.
		if !exempt(g, req) {
			refuse(g, rw, req)
			return
		}
		delete(req.Header, g.header)
	}
	g.next.ServeHTTP(rw, req)
}

// refuse answers an unauthenticated request: a browser navigation goes to the login page when there is
// one, everything else gets 401.
func refuse(g *gate, rw http.ResponseWriter, req *http.Request) {
	if g.loginURL != nil && isNavigation(req) {
		rw.Header().Set("Location", loginLocation(g.loginURL, g.loginParam, req))
		writeError(rw, http.StatusFound, bodyUnauthenticated)
		return
	}
	rw.Header().Set("WWW-Authenticate", g.challenge)
	writeError(rw, http.StatusUnauthorized, bodyUnauthenticated)
}

// refuseToken answers a request whose token is malformed (400) or does not authenticate (401) under the
// reject and login policies; pass and strip, and exempt requests, go on as for any unauthenticated one,
// but without the token: a credential the gateway checked and refused never reaches the backend.
func refuseToken(g *gate, rw http.ResponseWriter, req *http.Request, status int, code, reason string) {
	if g.unauthenticated == policyPass || g.unauthenticated == policyStrip || exempt(g, req) {
		delete(req.Header, "Authorization")
		serveUnauthenticated(g, rw, req)
		return
	}
	challenge := g.challenge + `, error="` + code + `"`
	body := bodyInvalidRequest
	if status == http.StatusUnauthorized {
		body = bodyInvalidToken
	}
	if reason != "" {
		challenge += `, error_description="` + reason + `"`
		body = []byte(`{"error":"` + code + `","reason":"` + reason + `"}` + "\n")
	}
	rw.Header().Set("WWW-Authenticate", challenge)
	writeError(rw, status, body)
}
