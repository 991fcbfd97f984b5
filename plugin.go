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

	BearerKeyPrefix string    `json:"bearerKeyPrefix,omitempty"`
	BearerScheme    string    `json:"bearerScheme,omitempty"`
	JWT             JWTConfig `json:"jwt,omitempty"`

	RefreshURL     string `json:"refreshURL,omitempty"`
	RefreshBelow   string `json:"refreshBelow,omitempty"`
	RefreshTimeout string `json:"refreshTimeout,omitempty"`
	CacheTTL       string `json:"cacheTTL,omitempty"`
	CacheSize      int    `json:"cacheSize,omitempty"`
}

// JWTConfig is the jwt block: verification of JWTs that clients present in Authorization, and
// optionally of the JWTs found in Redis. It is on when it names at least one key source.
type JWTConfig struct {
	JWKSURLs       []string `json:"jwksURLs,omitempty"`
	JWKS           string   `json:"jwks,omitempty"`
	PublicKeys     []string `json:"publicKeys,omitempty"`
	PublicKeyFiles []string `json:"publicKeyFiles,omitempty"`
	HMACSecret     string   `json:"hmacSecret,omitempty"`
	HMACSecretFile string   `json:"hmacSecretFile,omitempty"`

	Algorithms   []string `json:"algorithms,omitempty"`
	Issuers      []string `json:"issuers,omitempty"`
	Audiences    []string `json:"audiences,omitempty"`
	Leeway       string   `json:"leeway,omitempty"`
	VerifyStored bool     `json:"verifyStored,omitempty"`

	JWKSRefresh     string `json:"jwksRefresh,omitempty"`
	JWKSMinInterval string `json:"jwksMinInterval,omitempty"`
	JWKSTimeout     string `json:"jwksTimeout,omitempty"`
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
		BearerScheme:       "Bearer",
		JWT: JWTConfig{
			JWKSURLs:        []string{},
			PublicKeys:      []string{},
			PublicKeyFiles:  []string{},
			Algorithms:      []string{},
			Issuers:         []string{},
			Audiences:       []string{},
			Leeway:          "30s",
			JWKSRefresh:     "1h",
			JWKSMinInterval: "1m",
			JWKSTimeout:     "3s",
		},
		RefreshBelow:   "4h",
		RefreshTimeout: "1s",
		CacheSize:      10000,
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

	cookieName      string
	signer          *signer
	verified        *verifiedCookies
	store           *redisPool
	poolKey         string // the Redis settings, naming what is shared across middlewares
	keyPrefix       string
	refresh         *refresher   // nil: no session refresh
	verifier        *jwtVerifier // nil: no jwt block
	bearerKeyPrefix string       // "": opaque tokens are not accepted
	bearerScheme    string
	cache           *sessionCache // nil: no cache
	cacheTTL        time.Duration

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
// it without a network, and Redis may come up after Traefik. With JWKS URLs it starts their refresher,
// which first fetches one interval later.
func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	m, err := newSessionJWT(config)
	if err != nil {
		return nil, err
	}
	m.next = next
	m.name = name
	if m.verifier != nil && len(m.verifier.remote) > 0 && ctx != nil {
		// Traefik cancels ctx when this configuration is replaced, which ends the refresher.
		go refreshJWKS(ctx, m.verifier)
	}
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
		serveWithoutSession(m, rw, req)
		return
	}
	now := time.Now()
	sessionID, ok := sessionFromCookie(m, cookie.Value, now)
	if !ok {
		serveWithoutSession(m, rw, req)
		return
	}
	// The same lookup as serveWithoutSession's for tokens, written out here: on the path of every request,
	// a helper's call frame would cost the interpreter microseconds.
	key := m.keyPrefix + sessionID
	var s *session
	if m.cache != nil {
		s = cachedSession(m, key, now)
	}
	if s == nil {
		s, err = sessionFor(m, key, now)
	}
	if err != nil {
		m.serveStoreFailure(rw, req)
		return
	}
	if s == nil {
		serveWithoutSession(m, rw, req)
		return
	}
	forward(m, rw, req, s, now, true)
}

// forward sends an authenticated request on: its requirements met (else 403), its JWT in the header,
// its claim headers set, and for sessions (not tokens) a refresh when the key is about to expire.
func forward(m *SessionJWT, rw http.ResponseWriter, req *http.Request, s *session, now time.Time, isSession bool) {
	if m.hasRequirements {
		if d := m.requirements.check(s.claims); d != nil && !m.exempt(req) {
			forbidden(rw, m.realm, m.requirements, d)
			return
		}
	}
	// One value replaces every client-supplied copy.
	authorization := m.valuePrefix + s.jwt
	req.Header[m.header] = []string{authorization}
	if len(m.claimHeaders) > 0 {
		setClaimHeaders(req.Header, m.claimHeaders, s.claims)
	}
	// A key without expiry (zero redisEnd) is never refreshed.
	if isSession && m.refresh != nil && s.redisEnd != 0 && s.redisEnd-now.UnixNano() < int64(m.refresh.below) {
		refreshSession(m, rw, req, s, authorization)
	}
	m.next.ServeHTTP(rw, req)
}

// cachedSession returns the cached session under key, unless this middleware verifies stored JWTs and
// another one (which may not, or may trust other keys) put it there: then it is read again.
func cachedSession(m *SessionJWT, key string, now time.Time) *session {
	s := cacheGet(m.cache, key, now.UnixNano(), m.cacheTTL)
	if s != nil && m.verifier != nil && m.verifier.verifyStored && s.verifiedBy != m.verifier {
		return nil
	}
	return s
}

// sessionFor reads the session stored under key from Redis, and caches it when the cache is on. It
// returns nil for a key that does not authenticate (absent, not a header-safe JWT, expired) and an error
// when Redis could not answer.
func sessionFor(m *SessionJWT, key string, now time.Time) (*session, error) {
	var jwt []byte
	var err error
	ttl := int64(-1)
	if m.refresh != nil || m.cache != nil { // both need each key's TTL, read with its value
		jwt, ttl, err = redisGetTTL(m.store, key, now.Add(m.store.opts.timeout))
	} else {
		jwt, err = redisGet(m.store, key, now.Add(m.store.opts.timeout))
	}
	if err != nil || jwt == nil {
		return nil, err
	}
	value := string(jwt)
	if !headerSafe(value) {
		logf("middleware %s: the value stored for a session is not a single line of printable ASCII; "+
			"treating the request as unauthenticated", m.name)
		return nil, nil
	}
	claims, exp, ok := claimsOf(value, now)
	if !ok {
		// Expired, or not a JWT at all: the session does not authenticate.
		return nil, nil
	}
	var verifiedBy *jwtVerifier
	if m.verifier != nil && m.verifier.verifyStored {
		if _, reason := verifyJWT(m.verifier, value, now); reason != "" {
			logf("middleware %s: a JWT stored in Redis did not verify (%s); treating the request as unauthenticated", m.name, reason)
			return nil, nil
		}
		verifiedBy = m.verifier
	}
	s := &session{key: key, jwt: value, claims: claims, read: now.UnixNano(), verifiedBy: verifiedBy}
	if ttl >= 0 {
		s.redisEnd = s.read + ttl*int64(time.Second)
		s.expires = s.redisEnd
	}
	if exp > 0 {
		if end := int64(exp * 1e9); s.expires == 0 || end < s.expires {
			s.expires = end
		}
	}
	if m.cache != nil {
		cachePut(m.cache, s)
	}
	return s, nil
}

// serveStoreFailure answers when Redis could not: the redisFailure policy, except on exempt requests,
// which authentication never blocks.
func (m *SessionJWT) serveStoreFailure(rw http.ResponseWriter, req *http.Request) {
	if m.failOpen || m.exempt(req) {
		m.serveUnauthenticated(rw, req)
		return
	}
	writeError(rw, http.StatusServiceUnavailable, bodyStoreUnavailable)
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
