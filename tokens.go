package sessionjwt

import (
	"net/http"
	"strings"
	"time"
)

// API clients authenticate with a token in Authorization instead of a session cookie: a JWT verified
// against the jwt block's keys, or an opaque token looked up in Redis under bearerKeyPrefix (seed 001).
// Checks go in seed 001's order: the header's shape and scheme (400), then the token itself (401).

// maxTokenSize bounds an opaque token; it becomes part of a Redis key.
const maxTokenSize = 4096

// Answers of the token path.
var (
	bodyInvalidRequest = []byte(`{"error":"invalid_request"}` + "\n")
	bodyInvalidToken   = []byte(`{"error":"invalid_token"}` + "\n")
)

// serveWithoutSession handles a request that has no valid session cookie: by its token when the
// middleware accepts tokens and the request carries one, else by the unauthenticated policy.
func serveWithoutSession(m *SessionJWT, rw http.ResponseWriter, req *http.Request) {
	values := req.Header["Authorization"]
	if (m.bearerKeyPrefix == "" && m.verifier == nil) || len(values) == 0 {
		// No credentials at all: a session cookie would have done as well as a token, so this is the
		// unauthenticated policy's case (401 or a login redirect), not seed 001's 400.
		m.serveUnauthenticated(rw, req)
		return
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if len(values) != 1 || !ok || token == "" || strings.ContainsAny(token, " \t") || !headerSafe(token) ||
		!strings.EqualFold(scheme, m.bearerScheme) {
		m.refuseToken(rw, req, http.StatusBadRequest, "invalid_request", "")
		return
	}
	now := time.Now()
	if m.verifier != nil && strings.Count(token, ".") == 2 {
		claims, reason := verifyJWT(m.verifier, token, now)
		if reason != "" {
			m.refuseToken(rw, req, http.StatusUnauthorized, "invalid_token", reason)
			return
		}
		forward(m, rw, req, &session{authorization: m.valuePrefix + token, claims: claims}, now.UnixNano())
		return
	}
	nanos := now.UnixNano()
	if m.bearerKeyPrefix == "" || len(token) > maxTokenSize {
		m.refuseToken(rw, req, http.StatusUnauthorized, "invalid_token", "")
		return
	}
	key := m.bearerKeyPrefix + token
	var s *session
	var err error
	if m.cache != nil {
		s = cacheGet(m.cache, key, nanos)
	}
	if s == nil {
		s, err = sessionFor(m, key, nanos)
	}
	if err != nil {
		m.serveStoreFailure(rw, req)
		return
	}
	if s == nil {
		m.refuseToken(rw, req, http.StatusUnauthorized, "invalid_token", "")
		return
	}
	forward(m, rw, req, s, nanos)
}

// refuseToken answers a request whose token is malformed (400) or does not authenticate (401) under the
// reject and login policies; pass and strip, and exempt requests, go on as for any unauthenticated one,
// but without the token: a credential the gateway checked and refused never reaches the backend.
func (m *SessionJWT) refuseToken(rw http.ResponseWriter, req *http.Request, status int, code, reason string) {
	if m.unauthenticated == policyPass || m.unauthenticated == policyStrip || m.exempt(req) {
		delete(req.Header, "Authorization")
		m.serveUnauthenticated(rw, req)
		return
	}
	challenge := m.challenge + `, error="` + code + `"`
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
