// Package sessionjwt is a Traefik middleware plugin that swaps a session cookie signed with Python's
// itsdangerous for the JWT an auth service stored in Redis under the session's id, forwarding the request
// with "Authorization: Bearer <jwt>".
package sessionjwt

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Config is the plugin's dynamic configuration. Traefik decodes it case-insensitively by field name;
// durations are strings because Traefik cannot decode "5s" into a time.Duration.
type Config struct {
	CookieName         string   `json:"cookieName,omitempty"`
	SecretKey          string   `json:"secretKey,omitempty"`
	SecretKeys         []string `json:"secretKeys,omitempty"`
	SecretKeyFile      string   `json:"secretKeyFile,omitempty"`
	SignatureAlgorithm string   `json:"signatureAlgorithm,omitempty"`
	Salt               string   `json:"salt,omitempty"`
	KeyDerivation      string   `json:"keyDerivation,omitempty"`
	Separator          string   `json:"separator,omitempty"`
	MaxAge             string   `json:"maxAge,omitempty"`

	RedisURL          string `json:"redisURL,omitempty"`
	RedisPasswordFile string `json:"redisPasswordFile,omitempty"`
	RedisCAFile       string `json:"redisCAFile,omitempty"`
	RedisKeyPrefix    string `json:"redisKeyPrefix,omitempty"`
	RedisTimeout      string `json:"redisTimeout,omitempty"`
	RedisPoolSize     int    `json:"redisPoolSize,omitempty"`

	HeaderName      string `json:"headerName,omitempty"`
	HeaderType      string `json:"headerType,omitempty"`
	Unauthenticated string `json:"unauthenticated,omitempty"`
	RedisFailure    string `json:"redisFailure,omitempty"`

	PublicPaths []string `json:"publicPaths,omitempty"`
	LoginURL    string   `json:"loginURL,omitempty"`
	LoginParam  string   `json:"loginParam,omitempty"`
	Realm       string   `json:"realm,omitempty"`

	RequiredScopes []string            `json:"requiredScopes,omitempty"`
	MinimumLevel   string              `json:"minimumLevel,omitempty"`
	RequiredClaims map[string][]string `json:"requiredClaims,omitempty"`
	ClaimHeaders   map[string]string   `json:"claimHeaders,omitempty"`
}

// CreateConfig returns the defaults; Traefik decodes the user's configuration over them.
func CreateConfig() *Config {
	return &Config{
		CookieName:         "session_uuid",
		SecretKeys:         []string{},
		SignatureAlgorithm: "sha256",
		Salt:               "itsdangerous.Signer",
		KeyDerivation:      "django-concat",
		Separator:          ".",
		RedisURL:           "redis://127.0.0.1:6379/0",
		RedisTimeout:       "500ms",
		RedisPoolSize:      16,
		HeaderName:         "Authorization",
		HeaderType:         "Bearer",
		Unauthenticated:    policyPass,
		RedisFailure:       policyReject,
		PublicPaths:        []string{},
		LoginParam:         "next",
		Realm:              "sessionjwt",
		RequiredScopes:     []string{},
		RequiredClaims:     map[string][]string{},
		ClaimHeaders:       map[string]string{},
	}
}

// Values of the unauthenticated and redisFailure keys.
const (
	policyPass   = "pass"
	policyStrip  = "strip"
	policyReject = "reject"
	policyLogin  = "login"
)

// SessionJWT is the middleware. Everything it needs per request was computed in New.
type SessionJWT struct {
	next http.Handler
	name string

	cookieName string
	signer     *signer
	verified   *verifiedCookies
	store      *redisPool
	keyPrefix  string

	header      string // canonical header name
	valuePrefix string // "Bearer " or ""

	unauthenticated string // policyPass, policyStrip, policyReject or policyLogin
	failOpen        bool   // redisFailure: pass
	public          publicPaths
	loginURL        *url.URL // policyLogin only
	loginParam      string
	realm           string
	challenge       string // WWW-Authenticate of a 401

	requirements    requirements
	hasRequirements bool
	claimHeaders    []claimHeader
}

// New validates config and builds the middleware. It does no network I/O: Traefik's plugin catalog calls
// it without a network, and Redis may come up after Traefik.
func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	m, err := newSessionJWT(config)
	if err != nil {
		return nil, err
	}
	m.next = next
	m.name = name
	return m, nil
}

// ServeHTTP swaps a valid session for its JWT and applies the configured policies otherwise.
func (m *SessionJWT) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	// Headers we may set from claims never come from the client, whatever happens next.
	for _, ch := range m.claimHeaders {
		delete(req.Header, ch.header)
	}
	cookie, err := req.Cookie(m.cookieName)
	if err != nil {
		m.serveUnauthenticated(rw, req)
		return
	}
	now := time.Now()
	sessionID, ok := sessionFromCookie(m, cookie.Value, now)
	if !ok {
		m.serveUnauthenticated(rw, req)
		return
	}
	jwt, err := redisGet(m.store, m.keyPrefix+sessionID, now.Add(m.store.opts.timeout))
	if err != nil {
		if m.failOpen || m.exempt(req) {
			m.serveUnauthenticated(rw, req)
			return
		}
		writeError(rw, http.StatusServiceUnavailable, bodyStoreUnavailable)
		return
	}
	value := string(jwt)
	if !headerSafe(value) {
		if jwt != nil {
			logf("middleware %s: the value stored for a session is not a single line of printable ASCII; "+
				"treating the request as unauthenticated", m.name)
		}
		m.serveUnauthenticated(rw, req)
		return
	}
	claims, ok := decodeClaims(value, now)
	if !ok {
		// Expired, or not a JWT at all: the session does not authenticate.
		m.serveUnauthenticated(rw, req)
		return
	}
	if m.hasRequirements {
		if d := m.requirements.check(claims); d != nil && !m.exempt(req) {
			forbidden(rw, m.realm, m.requirements, d)
			return
		}
	}
	// One value replaces every client-supplied copy.
	req.Header[m.header] = []string{m.valuePrefix + value}
	if len(m.claimHeaders) > 0 {
		setClaimHeaders(req.Header, m.claimHeaders, claims)
	}
	m.next.ServeHTTP(rw, req)
}

// exempt reports a request that authentication never blocks: a public path or a CORS preflight.
func (m *SessionJWT) exempt(req *http.Request) bool {
	return isPreflight(req) || m.public.match(req.URL.Path)
}

func (m *SessionJWT) serveUnauthenticated(rw http.ResponseWriter, req *http.Request) {
	switch m.unauthenticated {
	case policyPass:
	case policyStrip:
		delete(req.Header, m.header)
	default:
		// reject and login; exempt requests go on as strip would send them.
		if !m.exempt(req) {
			m.refuse(rw, req)
			return
		}
		delete(req.Header, m.header)
	}
	m.next.ServeHTTP(rw, req)
}

// refuse answers an unauthenticated request: a browser navigation goes to the login page when there is
// one, everything else gets 401.
func (m *SessionJWT) refuse(rw http.ResponseWriter, req *http.Request) {
	if m.loginURL != nil && isNavigation(req) {
		rw.Header().Set("Location", loginLocation(m.loginURL, m.loginParam, req))
		writeError(rw, http.StatusFound, bodyUnauthenticated)
		return
	}
	rw.Header().Set("WWW-Authenticate", m.challenge)
	writeError(rw, http.StatusUnauthorized, bodyUnauthenticated)
}
