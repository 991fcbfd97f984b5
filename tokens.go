package sessionjwt

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// API clients authenticate with a token in Authorization instead of a session cookie: a JWT verified
// against the jwt block's keys, or an opaque token looked up in Redis under bearerKeyPrefix, as
// flask-stateless-auth does (one of the systems this gateway replaces). Checks go in its order: the
// header's shape and scheme (400), then the token itself (401).

// clientTokens holds the token keys of one middleware.
type clientTokens struct {
	scheme      string          // bearerScheme, compared case-insensitively
	keyPrefix   string          // bearerKeyPrefix; "": opaque tokens are not accepted
	verifier    *jwtVerifier    // the jwt block; nil: client JWTs are not accepted
	verified    *verifiedTokens // the Authorization values whose JWT verified; nil without a verifier
	valuePrefix string          // what precedes a verified JWT in the forwarded header
}

// newClientTokens validates bearerKeyPrefix and bearerScheme; nil when neither opaque tokens nor JWTs
// (verifier nil) are accepted.
func newClientTokens(c *Config, verifier *jwtVerifier, valuePrefix string) (*clientTokens, error) {
	if c.BearerKeyPrefix == "" && verifier == nil {
		return nil, nil
	}
	if !isToken(c.BearerScheme) {
		return nil, fmt.Errorf("bearerScheme %q is not a single word such as Bearer", c.BearerScheme)
	}
	tk := &clientTokens{scheme: c.BearerScheme, keyPrefix: c.BearerKeyPrefix, verifier: verifier,
		valuePrefix: valuePrefix}
	if verifier != nil {
		tk.verified = &verifiedTokens{entries: map[string]verifiedToken{}}
	}
	return tk, nil
}

// maxTokenSize bounds an opaque token; it becomes part of a Redis key.
const maxTokenSize = 4096

// Answers of the token path.
var (
	bodyInvalidRequest = []byte(`{"error":"invalid_request"}` + "\n")
	bodyInvalidToken   = []byte(`{"error":"invalid_token"}` + "\n")
)

// serveToken handles a request that has no valid session cookie: by its token when the middleware
// accepts tokens (tk not nil) and the request carries one, else by the unauthenticated policy. It holds
// only what a repeated token needs (under Yaegi every call pays for each expression in the called
// function's body: docs/yaegi.md); checkToken does the rest.
func serveToken(tk *clientTokens, st *sessionStore, g *gate, rw http.ResponseWriter, req *http.Request) {
	values := req.Header["Authorization"]
	if tk == nil || len(values) == 0 {
		// No credentials at all: a session cookie would have done as well as a token, so this is the
		// unauthenticated policy's case (401 or a login redirect), not the token checks' 400.
		serveUnauthenticated(g, rw, req)
		return
	}
	if vt := tk.verified; vt != nil && len(values) == 1 { // rememberedToken, written out
		now := time.Now().UnixNano()
		vt.mu.RLock()
		e := vt.entries[values[0]]
		vt.mu.RUnlock()
		if now < e.expires && e.epoch == atomic.LoadInt64(&keysEpoch) {
			s := e.session // forward, written out
			if g.checksClaims && !checkClaims(g, rw, req, s, now, false) {
				return
			}
			req.Header[g.header] = []string{s.authorization}
			g.next.ServeHTTP(rw, req)
			return
		}
	}
	checkToken(tk, st, g, rw, req, values)
}

// checkToken judges the Authorization values of a request in full: their shape, then the JWT's
// signature and claims, or the opaque token's entry in Redis.
func checkToken(tk *clientTokens, st *sessionStore, g *gate, rw http.ResponseWriter, req *http.Request, values []string) {
	scheme, token, ok := strings.Cut(values[0], " ")
	if len(values) != 1 || !ok || token == "" || strings.ContainsAny(token, " \t") || !headerSafe(token) ||
		!strings.EqualFold(scheme, tk.scheme) {
		refuseToken(g, rw, req, http.StatusBadRequest, "invalid_request", "")
		return
	}
	now := time.Now()
	if tk.verifier != nil && strings.Count(token, ".") == 2 {
		epoch := atomic.LoadInt64(&keysEpoch) // before verifying: keys that change meanwhile void the entry
		claims, reason := verifyJWT(tk.verifier, token, now)
		if reason != "" {
			refuseToken(g, rw, req, http.StatusUnauthorized, "invalid_token", reason)
			return
		}
		s := &session{authorization: tk.valuePrefix + token, claims: claims}
		rememberToken(tk.verified, values[0], s, tk.verifier.leeway, epoch)
		forward(g, rw, req, s, now.UnixNano())
		return
	}
	nanos := now.UnixNano()
	if tk.keyPrefix == "" || len(token) > maxTokenSize {
		refuseToken(g, rw, req, http.StatusUnauthorized, "invalid_token", "")
		return
	}
	s, err := lookupSession(st, tk.keyPrefix+token, nanos)
	if err != nil {
		serveStoreFailure(g, rw, req)
		return
	}
	if s == nil {
		refuseToken(g, rw, req, http.StatusUnauthorized, "invalid_token", "")
		return
	}
	forward(g, rw, req, s, nanos)
}
