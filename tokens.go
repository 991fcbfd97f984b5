package sessionjwt

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// API clients authenticate with a token in Authorization instead of a session cookie: a JWT verified
// against the jwt block's keys, or an opaque token looked up in Redis under bearerKeyPrefix, as
// flask-stateless-auth does (one of the systems this gateway replaces). Checks go in its order: the
// header's shape and scheme (400), then the token itself (401).

// clientTokens holds the token keys of one middleware.
type clientTokens struct {
	scheme      string       // bearerScheme, compared case-insensitively
	keyPrefix   string       // bearerKeyPrefix; "": opaque tokens are not accepted
	verifier    *jwtVerifier // the jwt block; nil: client JWTs are not accepted
	valuePrefix string       // what precedes a verified JWT in the forwarded header
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
	return &clientTokens{scheme: c.BearerScheme, keyPrefix: c.BearerKeyPrefix, verifier: verifier,
		valuePrefix: valuePrefix}, nil
}

// maxTokenSize bounds an opaque token; it becomes part of a Redis key.
const maxTokenSize = 4096

// Answers of the token path.
var (
	bodyInvalidRequest = []byte(`{"error":"invalid_request"}` + "\n")
	bodyInvalidToken   = []byte(`{"error":"invalid_token"}` + "\n")
)

// serveToken handles a request that has no valid session cookie: by its token when the middleware
// accepts tokens (tk not nil) and the request carries one, else by the unauthenticated policy.
func serveToken(tk *clientTokens, st *sessionStore, g *gate, rw http.ResponseWriter, req *http.Request) {
	values := req.Header["Authorization"]
	if tk == nil || len(values) == 0 {
		// No credentials at all: a session cookie would have done as well as a token, so this is the
		// unauthenticated policy's case (401 or a login redirect), not the token checks' 400.
		serveUnauthenticated(g, rw, req)
		return
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if len(values) != 1 || !ok || token == "" || strings.ContainsAny(token, " \t") || !headerSafe(token) ||
		!strings.EqualFold(scheme, tk.scheme) {
		refuseToken(g, rw, req, http.StatusBadRequest, "invalid_request", "")
		return
	}
	now := time.Now()
	if tk.verifier != nil && strings.Count(token, ".") == 2 {
		claims, reason := verifyJWT(tk.verifier, token, now)
		if reason != "" {
			refuseToken(g, rw, req, http.StatusUnauthorized, "invalid_token", reason)
			return
		}
		forward(g, rw, req, &session{authorization: tk.valuePrefix + token, claims: claims}, now.UnixNano())
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
