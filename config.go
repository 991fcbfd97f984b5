package sessionjwt

import (
	"errors"
	"net/http"
)

// newSessionJWT validates config and assembles the middleware from its parts, each built and validated
// beside the type it builds: the session cookie (cookie.go), the forwarded header and the policies
// (policy.go), the jwt block (jwtverify.go), refresh (refresh.go), client tokens (tokens.go), and the
// datastore with its cache (store.go). Every error names the key at fault and, where there is a list,
// the allowed values.
func newSessionJWT(config *Config, next http.Handler, name string) (*SessionJWT, error) {
	if config == nil {
		config = CreateConfig()
	}
	m, err := buildSessionJWT(config, next, name)
	if err != nil {
		return nil, errors.New("sessionjwt: " + err.Error())
	}
	return m, nil
}

func buildSessionJWT(c *Config, next http.Handler, name string) (*SessionJWT, error) {
	cookies, err := newSessionCookies(c)
	if err != nil {
		return nil, err
	}
	header, valuePrefix, err := forwardedHeader(c)
	if err != nil {
		return nil, err
	}
	verifier, err := newJWTVerifier(&c.JWT)
	if err != nil {
		return nil, err
	}
	var storedVerifier *jwtVerifier
	if verifier != nil && verifier.verifyStored {
		storedVerifier = verifier
	}
	refresh, err := newRefresher(c, header, name)
	if err != nil {
		return nil, err
	}
	authz, err := newAuthorizer(&c.Authorize, header, name)
	if err != nil {
		return nil, err
	}
	g, err := newGate(c, next, header, refresh, authz)
	if err != nil {
		return nil, err
	}
	tokens, err := newClientTokens(c, verifier, valuePrefix)
	if err != nil {
		return nil, err
	}
	if cookies.keepAuthorization && tokens == nil && c.Unauthenticated != policyPass {
		// Otherwise every request with Authorization would be refused or stripped, session or not.
		return nil, errors.New("existingAuthorization keep needs a way to judge the client's Authorization: " +
			"jwt keys, bearerKeyPrefix, or unauthenticated pass")
	}
	identity := ""
	if authz != nil {
		identity = authz.identity
	}
	spoofable, err := spoofableHeaders(header, g.claimHeaders, identity)
	if err != nil {
		return nil, err
	}
	// Last, as it takes a pool and a cache that middlewares share: a configuration New refuses leaves
	// nothing behind.
	store, err := newSessionStore(c, name, valuePrefix, storedVerifier, refresh != nil)
	if err != nil {
		return nil, err
	}
	if refresh != nil {
		refresh.store = store
	}
	return &SessionJWT{cookies: cookies, tokens: tokens, store: store, gate: g, spoofable: spoofable}, nil
}
