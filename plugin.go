// Package sessionjwt is a Traefik middleware plugin that swaps a session cookie signed with Python's
// itsdangerous for the JWT an auth service stored in Redis under the session's id, forwarding the request
// with "Authorization: Bearer <jwt>".
package sessionjwt

import (
	"context"
	"net/http"
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

	RemoveSessionCookie   bool   `json:"removeSessionCookie,omitempty"`
	ExistingAuthorization string `json:"existingAuthorization,omitempty"`

	RedisURL          string `json:"redisURL,omitempty"`
	RedisPasswordFile string `json:"redisPasswordFile,omitempty"`
	RedisCAFile       string `json:"redisCAFile,omitempty"`
	RedisKeyPrefix    string `json:"redisKeyPrefix,omitempty"`
	RedisTimeout      string `json:"redisTimeout,omitempty"`
	RedisPoolSize     int    `json:"redisPoolSize,omitempty"`
	RedisIdleTimeout  string `json:"redisIdleTimeout,omitempty"`

	RedisSentinelAddresses    []string `json:"redisSentinelAddresses,omitempty"`
	RedisSentinelMasterName   string   `json:"redisSentinelMasterName,omitempty"`
	RedisSentinelUsername     string   `json:"redisSentinelUsername,omitempty"`
	RedisSentinelPasswordFile string   `json:"redisSentinelPasswordFile,omitempty"`
	RedisClusterAddresses     []string `json:"redisClusterAddresses,omitempty"`

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

	RefreshURL        string   `json:"refreshURL,omitempty"`
	RefreshHosts      []string `json:"refreshHosts,omitempty"`
	RefreshBelow      string   `json:"refreshBelow,omitempty"`
	RefreshTimeout    string   `json:"refreshTimeout,omitempty"`
	CacheTTL          string   `json:"cacheTTL,omitempty"`
	CacheSize         int      `json:"cacheSize,omitempty"`
	CacheInvalidation string   `json:"cacheInvalidation,omitempty"`

	Authorize AuthorizeConfig `json:"authorize,omitempty"`
}

// AuthorizeConfig is the authorize block: every request the middleware would forward is first allowed by
// a tinyauth service, for an action on a resource (authorize.go). It is on when it names an endpoint (or
// bypass).
type AuthorizeConfig struct {
	Endpoint            string          `json:"endpoint,omitempty"`
	Service             string          `json:"service,omitempty"`
	AccessKeyID         string          `json:"accessKeyId,omitempty"`
	SecretAccessKey     string          `json:"secretAccessKey,omitempty"`
	SecretAccessKeyFile string          `json:"secretAccessKeyFile,omitempty"`
	Partition           string          `json:"partition,omitempty"`
	Region              string          `json:"region,omitempty"`
	CAFile              string          `json:"caFile,omitempty"`
	Timeout             string          `json:"timeout,omitempty"`
	Action              string          `json:"action,omitempty"`
	Resource            string          `json:"resource,omitempty"`
	Rules               []AuthorizeRule `json:"rules,omitempty"`
	Headers             []string        `json:"headers,omitempty"`
	SendAuthorization   string          `json:"sendAuthorization,omitempty"`
	IdentityHeader      string          `json:"identityHeader,omitempty"`
	Failure             string          `json:"failure,omitempty"`
	CacheTTL            string          `json:"cacheTTL,omitempty"`
	CacheSize           int             `json:"cacheSize,omitempty"`
	Bypass              bool            `json:"bypass,omitempty"`
}

// AuthorizeRule picks the action and resource of the requests whose method and path it matches.
type AuthorizeRule struct {
	Methods  []string `json:"methods,omitempty"`
	Path     string   `json:"path,omitempty"`
	Action   string   `json:"action,omitempty"`
	Resource string   `json:"resource,omitempty"`
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

	// Providers are identity providers by name, instead of the flat keys above (which are one provider).
	Providers map[string]JWTProvider `json:"providers,omitempty"`
}

// JWTProvider is one identity provider of jwt.providers: a token is valid when its keys verify it and its
// issuer and one of its audiences match. With an issuer and no keys, the keys are found by OpenID Connect
// discovery.
type JWTProvider struct {
	Issuer         string   `json:"issuer,omitempty"`
	Audiences      []string `json:"audiences,omitempty"`
	JWKSURLs       []string `json:"jwksURLs,omitempty"`
	JWKS           string   `json:"jwks,omitempty"`
	PublicKeys     []string `json:"publicKeys,omitempty"`
	PublicKeyFiles []string `json:"publicKeyFiles,omitempty"`
	HMACSecret     string   `json:"hmacSecret,omitempty"`
	HMACSecretFile string   `json:"hmacSecretFile,omitempty"`
	Algorithms     []string `json:"algorithms,omitempty"`
}

// CreateConfig returns the defaults; Traefik decodes the user's configuration over them.
func CreateConfig() *Config {
	return &Config{
		CookieName:             "session_uuid",
		SecretKeys:             []string{},
		SignatureAlgorithm:     "sha256",
		Salt:                   "itsdangerous.Signer",
		KeyDerivation:          "django-concat",
		Separator:              ".",
		ExistingAuthorization:  existingReplace,
		RedisURL:               "", // redis://127.0.0.1:6379/0, or no host with Sentinel or Cluster (redisSettings)
		RedisTimeout:           "500ms",
		RedisPoolSize:          16,
		RedisIdleTimeout:       "1m",
		RedisSentinelAddresses: []string{},
		RedisClusterAddresses:  []string{},
		HeaderName:             "Authorization",
		HeaderType:             "Bearer",
		Unauthenticated:        policyStrip,
		RedisFailure:           policyReject,
		PublicPaths:            []string{},
		Preflight:              preflightAnonymous,
		LoginParam:             "next",
		Realm:                  "sessionjwt",
		RequiredScopes:         []string{},
		RequiredClaims:         map[string][]string{},
		ClaimHeaders:           map[string]string{},
		BearerScheme:           "Bearer",
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
			Providers:       map[string]JWTProvider{},
		},
		RefreshHosts:      []string{},
		RefreshBelow:      "4h",
		RefreshTimeout:    "1s",
		CacheTTL:          "1m",
		CacheSize:         10000,
		CacheInvalidation: invalidationTracking,
		Authorize: AuthorizeConfig{
			Partition:         "tinyauth",
			Region:            "default",
			Timeout:           "1s",
			Rules:             []AuthorizeRule{},
			Headers:           []string{},
			SendAuthorization: sendClientAuthorization,
			Failure:           policyReject,
			CacheTTL:          "0s",
			CacheSize:         10000,
		},
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

// SessionJWT is the middleware: a request goes through its parts in order. Who is calling is found by the
// session cookie, else by a client token, each looked up in the store; the gate then decides (public
// paths, requirements, the unauthenticated and redisFailure policies) and forwards or answers.
// Everything the parts need per request was computed in New.
type SessionJWT struct {
	cookies *sessionCookies
	tokens  *clientTokens // nil: only session cookies authenticate
	store   *sessionStore
	gate    *gate
	// spoofable are the names under which a client could pass a header off as one the gateway sets: every
	// spelling of each claim header and the other spellings of headerName (see headerSpellings). nil: none.
	spoofable []string
}

// New validates config and builds the middleware. It does no network I/O: Traefik's plugin catalog calls
// it without a network, and Redis may come up after Traefik. It starts no goroutine of its own either:
// Traefik v2 never cancels ctx, so one per New would pile up with every reload; the package's one
// janitor (janitor.go) does the background work for all middlewares.
func New(_ context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	m, err := newSessionJWT(config, next, name)
	if err != nil {
		return nil, err
	}
	if m.tokens != nil && m.tokens.verifier != nil {
		adoptJWKS(m.tokens.verifier) // only a configuration New accepted sets the JWKS URLs' intervals
	}
	return m, nil
}

// ServeHTTP swaps a valid session for its JWT and applies the configured policies otherwise. The session
// cookie's path is written out here rather than called: it is every browser request's path, and under
// Yaegi a call frame costs about a tenth of a cached request (docs/yaegi.md).
func (m *SessionJWT) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	// Headers we may set never come from the client, in any spelling, whatever happens next.
	if m.spoofable != nil {
		deleteHeaders(req.Header, m.spoofable)
	}
	g := m.gate
	if req.Method == http.MethodOptions && servedPreflight(g, rw, req) {
		return
	}
	// Who is calling: the session cookie, its signature verified (or remembered as verified: cookie.go)...
	c := m.cookies
	if c.keepAuthorization && len(req.Header["Authorization"]) > 0 {
		if c.remove {
			removeCookie(req.Header, c.name)
		}
		serveWithoutSession(m, rw, req) // judged by its own Authorization (existingAuthorization keep)
		return
	}
	cookie, err := req.Cookie(c.name)
	if err != nil {
		serveToken(m.tokens, m.store, g, rw, req) // serveWithoutSession, written out: API clients' path
		return
	}
	if c.remove {
		removeCookie(req.Header, c.name)
	}
	now := time.Now().UnixNano()
	c.mu.RLock()
	e := c.verified[cookie.Value]
	c.mu.RUnlock()
	key := e.key
	if now >= e.expires { // not remembered (expires 0), or its timestamp has expired since
		if key = verifyCookie(c, cookie.Value, now); key == "" {
			serveWithoutSession(m, rw, req)
			return
		}
	}
	// ... and the session stored under its key: lookupSession, written out.
	st := m.store
	var s *session
	if st.cache != nil {
		s = cacheGet(st.cache, key, now)
	}
	if s == nil {
		if s, err = readSession(st, key, now); s == nil {
			serveNoStoredSession(m, rw, req, err)
			return
		}
	}
	// Decide and forward: forward, written out.
	if g.checksClaims && !checkClaims(g, rw, req, s, now, true) {
		return
	}
	req.Header[g.header] = []string{s.authorization} // one value replaces every client-supplied copy
	g.next.ServeHTTP(rw, req)
}

// serveWithoutSession goes on with a request that has no valid session cookie: by its token, else by the
// unauthenticated policy (serveToken). It and serveNoStoredSession are the rest of ServeHTTP, taking the
// middleware to keep ServeHTTP's own body short (docs/yaegi.md).
func serveWithoutSession(m *SessionJWT, rw http.ResponseWriter, req *http.Request) {
	serveToken(m.tokens, m.store, m.gate, rw, req)
}

// serveNoStoredSession answers a request whose session cookie verified when the datastore had no session
// under its key (err nil: the request may still carry a token) or could not answer.
func serveNoStoredSession(m *SessionJWT, rw http.ResponseWriter, req *http.Request, err error) {
	if err != nil {
		serveStoreFailure(m.gate, rw, req)
		return
	}
	serveToken(m.tokens, m.store, m.gate, rw, req)
}
