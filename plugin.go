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
	RedisIdleTimeout  string `json:"redisIdleTimeout,omitempty"`

	HeaderName      string `json:"headerName,omitempty"`
	HeaderType      string `json:"headerType,omitempty"`
	Unauthenticated string `json:"unauthenticated,omitempty"`
	RedisFailure    string `json:"redisFailure,omitempty"`

	PublicPaths []string `json:"publicPaths,omitempty"`
	Preflight   string   `json:"preflight,omitempty"`
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
		RedisIdleTimeout:   "1m",
		HeaderName:         "Authorization",
		HeaderType:         "Bearer",
		Unauthenticated:    policyStrip,
		RedisFailure:       policyReject,
		PublicPaths:        []string{},
		Preflight:          preflightAnonymous,
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

// Values of the preflight key.
const (
	preflightAnonymous    = "anonymous"    // forwarded unauthenticated and without credentials
	preflightAuthenticate = "authenticate" // checked like any other request
)

// SessionJWT is the middleware. Everything it needs per request was computed in New.
type SessionJWT struct {
	next http.Handler
	name string

	cookieName      string
	signer          *signer
	verified        *verifiedCookies
	store           *redisPool
	redisTimeout    int64  // nanoseconds
	readsTTL        bool   // refresh or cache: sessions are read with their key's TTL
	poolKey         string // the Redis settings, naming what is shared across middlewares
	keyPrefix       string
	refresh         *refresher   // nil: no session refresh
	verifier        *jwtVerifier // nil: no jwt block
	storedVerifier  *jwtVerifier // the verifier when it checks stored JWTs (jwt.verifyStored), else nil
	bearerKeyPrefix string       // "": opaque tokens are not accepted
	bearerScheme    string
	cache           *sessionCache // nil: no cache
	cacheTTL        time.Duration

	header      string // canonical header name
	valuePrefix string // "Bearer " or ""

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
	checksClaims    bool // any of requirements, claimHeaders and refresh: see checkClaims
	// spoofable are the names under which a client could pass a header off as one the gateway sets: every
	// spelling of each claim header and the other spellings of headerName (see headerSpellings). nil: none.
	spoofable []string
}

// New validates config and builds the middleware. It does no network I/O: Traefik's plugin catalog calls
// it without a network, and Redis may come up after Traefik. It starts no goroutine of its own either:
// Traefik v2 never cancels ctx, so one per New would pile up with every reload; the package's one
// janitor (janitor.go) does the background work for all middlewares.
func New(_ context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	m, err := newSessionJWT(config)
	if err != nil {
		return nil, err
	}
	m.next = next
	m.name = name
	if m.verifier != nil {
		adoptJWKS(m.verifier) // only a configuration New accepted sets the JWKS URLs' intervals
	}
	return m, nil
}

// ServeHTTP swaps a valid session for its JWT and applies the configured policies otherwise.
//
// Under Yaegi every call of an interpreted function allocates one value for each expression in its body,
// whether or not that expression runs; so the functions on every request's path hold only what every
// request needs, and the rest sits in functions called when it is needed.
func (m *SessionJWT) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	// Headers we may set never come from the client, in any spelling, whatever happens next.
	if m.spoofable != nil {
		deleteHeaders(req.Header, m.spoofable)
	}
	if req.Method == http.MethodOptions && m.anonymousPreflight && isPreflight(req) {
		servePreflight(m, rw, req)
		return
	}
	cookie, err := req.Cookie(m.cookieName)
	if err != nil {
		serveWithoutSession(m, rw, req)
		return
	}
	now := time.Now().UnixNano()
	// A cookie value whose signature verified before is remembered with its session's key (verified.go).
	v := m.verified
	v.mu.RLock()
	e := v.entries[cookie.Value]
	v.mu.RUnlock()
	key := e.key
	if now >= e.expires { // not remembered (expires 0), or its timestamp has expired since
		if key = verifyCookie(m, cookie.Value, now); key == "" {
			serveWithoutSession(m, rw, req)
			return
		}
	}
	// The same lookup as serveWithoutSession's for tokens, written out here to spare a call frame.
	var s *session
	if m.cache != nil {
		s = cacheGet(m.cache, key, now)
	}
	if s == nil {
		s, err = sessionFor(m, key, now)
		if s == nil {
			serveNoStoredSession(m, rw, req, err)
			return
		}
	}
	// forward, written out: a call frame here costs about a tenth of a cached request under Yaegi.
	if m.checksClaims && !checkClaims(m, rw, req, s, now, true) {
		return
	}
	req.Header[m.header] = []string{s.authorization} // one value replaces every client-supplied copy
	m.next.ServeHTTP(rw, req)
}

// forward sends a request authenticated by a client token on: its requirements met (else 403), its JWT
// in the header, its claim headers set. (ServeHTTP does the same for sessions itself.)
func forward(m *SessionJWT, rw http.ResponseWriter, req *http.Request, s *session, now int64) {
	if m.checksClaims && !checkClaims(m, rw, req, s, now, false) {
		return
	}
	// One value replaces every client-supplied copy.
	req.Header[m.header] = []string{s.authorization}
	m.next.ServeHTTP(rw, req)
}

// checkClaims does what only some configurations ask of an authenticated request: it answers 403 and
// returns false when the requirements are not met, sets the claim headers, and refreshes a session about
// to expire.
func checkClaims(m *SessionJWT, rw http.ResponseWriter, req *http.Request, s *session, now int64, isSession bool) bool {
	if m.hasRequirements {
		if d := m.requirements.check(s.claims); d != nil && !m.exempt(req) {
			forbidden(rw, m.realm, m.requirements, d)
			return false
		}
	}
	if m.claimHeaders != nil {
		setClaimHeaders(req.Header, m.claimHeaders, s.claims)
	}
	if m.refresh != nil && isSession {
		maybeRefresh(m, rw, req, s, now)
	}
	return true
}

// serveNoStoredSession answers when Redis had no session under the key (err nil) or could not answer.
func serveNoStoredSession(m *SessionJWT, rw http.ResponseWriter, req *http.Request, err error) {
	if err != nil {
		m.serveStoreFailure(rw, req)
		return
	}
	serveWithoutSession(m, rw, req)
}

// sessionFor reads the session stored under key from Redis, and caches it when the cache is on. It
// returns nil for a key that does not authenticate (absent, not a header-safe JWT, expired) and an error
// when Redis could not answer.
func sessionFor(m *SessionJWT, key string, now int64) (*session, error) {
	deadline := time.Unix(0, now+m.redisTimeout)
	if m.readsTTL {
		return sessionWithTTL(m, key, now, deadline)
	}
	jwt, err := redisGet(m.store, key, deadline)
	if err != nil || jwt == nil {
		return nil, err
	}
	return storedSession(m, key, string(jwt), -1, now), nil
}

// sessionWithTTL is sessionFor for a middleware that refreshes sessions or caches them: both need each
// key's TTL, read in the same round trip as its value.
func sessionWithTTL(m *SessionJWT, key string, now int64, deadline time.Time) (*session, error) {
	jwt, ttl, err := redisGetTTL(m.store, key, deadline)
	if err != nil || jwt == nil {
		return nil, err
	}
	return storedSession(m, key, string(jwt), ttl, now), nil
}

// storedSession checks the JWT Redis holds under key and returns its session, or nil when it does not
// authenticate (not a header-safe JWT, expired, or not verified under jwt.verifyStored). ttl is the key's
// remaining lifetime in milliseconds, -1 when it has none or was not read.
func storedSession(m *SessionJWT, key, value string, ttl, now int64) *session {
	d := rememberedClaims(value)
	if d == nil {
		if d = decodeStored(m, value, now); d == nil {
			return nil
		}
	}
	if now >= d.expires || (m.storedVerifier != nil && !storedJWTVerifies(m, value, now)) {
		return nil
	}
	s := &session{key: key, authorization: m.valuePrefix + value, claims: d.claims, read: now,
		expires: d.expires}
	if m.readsTTL {
		keepSession(m, s, ttl)
	}
	return s
}

// keepSession completes a session read with its key's TTL (ttl milliseconds, -1: none), for refresh and
// the cache, and caches it when the cache is on. The TTL is counted from s.read, taken before the command
// went out, so redisEnd is never later than the key's real end.
func keepSession(m *SessionJWT, s *session, ttl int64) {
	if ttl >= 0 {
		s.redisEnd = s.read + ttl*int64(time.Millisecond)
		if s.redisEnd < s.expires {
			s.expires = s.redisEnd
		}
	}
	if m.cache != nil {
		if end := s.read + int64(m.cacheTTL); end < s.expires {
			s.expires = end
		}
		cachePut(m.cache, s)
	}
}

// decodeStored decodes a stored JWT that is not remembered (see decodeAndRemember), after checking it
// can be a header value at all; nil when it does not authenticate: not header-safe, not a JWT, expired.
func decodeStored(m *SessionJWT, value string, now int64) *decodedJWT {
	if !headerSafe(value) {
		logf("middleware %s: the value stored for a session is not a single line of printable ASCII; "+
			"treating the request as unauthenticated", m.name)
		return nil
	}
	return decodeAndRemember(value, now)
}

// storedJWTVerifies checks a stored JWT's signature and registered claims (jwt.verifyStored).
func storedJWTVerifies(m *SessionJWT, value string, now int64) bool {
	if _, reason := verifyJWT(m.storedVerifier, value, time.Unix(0, now)); reason != "" {
		logf("middleware %s: a JWT stored in Redis did not verify (%s); treating the request as unauthenticated", m.name, reason)
		return false
	}
	return true
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

// exempt reports a request that authentication never blocks: a public path. (Preflights under
// preflight: anonymous never get this far; under authenticate they are requests like any other.)
func (m *SessionJWT) exempt(req *http.Request) bool {
	return m.public.match(req.URL.Path)
}

// servePreflight forwards a CORS preflight without authenticating it (preflight: anonymous), and so
// without any credential: browsers send none on a preflight, so a cookie or token there is a client's
// own making, and a backend that answers OPTIONS like GET must not take it for one the gateway checked.
func servePreflight(m *SessionJWT, rw http.ResponseWriter, req *http.Request) {
	delete(req.Header, m.header)
	delete(req.Header, "Authorization")
	delete(req.Header, "Cookie")
	m.next.ServeHTTP(rw, req)
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
