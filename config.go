package sessionjwt

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// newSessionJWT validates config and turns it into a ready middleware (without next and name).
// Every error names the key at fault and, where there is a list, the allowed values.
func newSessionJWT(config *Config) (*SessionJWT, error) {
	if config == nil {
		config = CreateConfig()
	}
	m, err := buildSessionJWT(config)
	if err != nil {
		return nil, errors.New("sessionjwt: " + err.Error())
	}
	return m, nil
}

func buildSessionJWT(c *Config) (*SessionJWT, error) {
	if !isToken(c.CookieName) {
		return nil, fmt.Errorf("cookieName %q is not a valid cookie name", c.CookieName)
	}
	secrets, err := readSecrets(c)
	if err != nil {
		return nil, err
	}
	var maxAge time.Duration
	if c.MaxAge != "" {
		if maxAge, err = time.ParseDuration(c.MaxAge); err != nil || maxAge < time.Second {
			return nil, fmt.Errorf("maxAge %q is not a Go duration of at least 1s (e.g. \"12h\")", c.MaxAge)
		}
	}
	sig, err := newSigner(secrets, c.Salt, c.KeyDerivation, strings.ToLower(c.SignatureAlgorithm), c.Separator, maxAge)
	if err != nil {
		return nil, err
	}

	store, err := redisSettings(c)
	if err != nil {
		return nil, err
	}

	if !isToken(c.HeaderName) {
		return nil, fmt.Errorf("headerName %q is not a valid header name", c.HeaderName)
	}
	valuePrefix := ""
	if c.HeaderType != "" {
		if !isToken(c.HeaderType) {
			return nil, fmt.Errorf("headerType %q must be a single word such as Bearer, or empty", c.HeaderType)
		}
		valuePrefix = c.HeaderType + " "
	}
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
	hasRequirements := len(reqs.scopes) > 0 || reqs.hasLevel || len(reqs.claims) > 0
	header := http.CanonicalHeaderKey(c.HeaderName)
	claimHeaders, err := newClaimHeaders(c, header)
	if err != nil {
		return nil, err
	}

	refresh, err := refreshSettings(c)
	if err != nil {
		return nil, err
	}
	var cacheTTL time.Duration
	if c.CacheTTL != "" {
		if cacheTTL, err = time.ParseDuration(c.CacheTTL); err != nil || cacheTTL <= 0 {
			return nil, fmt.Errorf("cacheTTL %q is not a positive Go duration (e.g. \"10s\"), or empty for no cache", c.CacheTTL)
		}
		if c.CacheSize < 1 {
			return nil, fmt.Errorf("cacheSize %d must be at least 1", c.CacheSize)
		}
	}

	poolKey := store.poolKey()
	var cache *sessionCache
	if cacheTTL > 0 {
		cache = sharedCache(poolKey, c.CacheSize)
	}
	return &SessionJWT{
		cookieName:      c.CookieName,
		signer:          sig,
		verified:        newVerifiedCookies(),
		store:           sharedPool(store),
		poolKey:         poolKey,
		keyPrefix:       c.RedisKeyPrefix,
		refresh:         refresh,
		cache:           cache,
		cacheTTL:        cacheTTL,
		readTTL:         refresh != nil || cache != nil,
		header:          header,
		valuePrefix:     valuePrefix,
		unauthenticated: c.Unauthenticated,
		failOpen:        c.RedisFailure == policyPass,
		public:          public,
		loginURL:        loginURL,
		loginParam:      c.LoginParam,
		realm:           c.Realm,
		challenge:       `Bearer realm="` + c.Realm + `"`,
		requirements:    reqs,
		hasRequirements: hasRequirements,
		claimHeaders:    claimHeaders,
	}, nil
}

// refreshSettings validates the session refresh keys; nil without a refreshURL.
func refreshSettings(c *Config) (*refresher, error) {
	if c.RefreshURL == "" {
		return nil, nil
	}
	if err := parseRefreshURL(c.RefreshURL); err != nil {
		return nil, err
	}
	below, err := time.ParseDuration(c.RefreshBelow)
	if err != nil || below <= 0 {
		return nil, fmt.Errorf("refreshBelow %q is not a positive Go duration (e.g. \"4h\")", c.RefreshBelow)
	}
	timeout, err := time.ParseDuration(c.RefreshTimeout)
	if err != nil || timeout <= 0 {
		return nil, fmt.Errorf("refreshTimeout %q is not a positive Go duration (e.g. \"1s\")", c.RefreshTimeout)
	}
	return &refresher{url: c.RefreshURL, below: below, timeout: timeout}, nil
}

// readSecrets returns the itsdangerous secrets, oldest first, from exactly one of the three keys.
func readSecrets(c *Config) ([]string, error) {
	set := 0
	var secrets []string
	if c.SecretKey != "" {
		set++
		secrets = []string{c.SecretKey}
	}
	if len(c.SecretKeys) > 0 {
		set++
		secrets = c.SecretKeys
	}
	if c.SecretKeyFile != "" {
		set++
		secret, err := readSecretFile(c.SecretKeyFile, "secretKeyFile")
		if err != nil {
			return nil, err
		}
		secrets = []string{secret}
	}
	switch set {
	case 0:
		return nil, errors.New("one of secretKey, secretKeys, secretKeyFile is required")
	case 1:
	default:
		return nil, errors.New("set only one of secretKey, secretKeys, secretKeyFile")
	}
	for i, s := range secrets {
		if s == "" {
			return nil, fmt.Errorf("secretKeys[%d] is empty", i)
		}
	}
	return secrets, nil
}

// readSecretFile reads a secret mounted as a file, dropping the trailing newline editors and
// `kubectl create secret --from-file` leave. Errors name the key, not the file's content.
func readSecretFile(path, key string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %v", key, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s %q is empty", key, path)
	}
	return s, nil
}

func redisSettings(c *Config) (redisOptions, error) {
	o, err := parseRedisURL(c.RedisURL)
	if err != nil {
		return o, err
	}
	if c.RedisPasswordFile != "" {
		if o.password, err = readSecretFile(c.RedisPasswordFile, "redisPasswordFile"); err != nil {
			return o, err
		}
	}
	if c.RedisCAFile != "" {
		pem, err := os.ReadFile(c.RedisCAFile)
		if err != nil {
			return o, fmt.Errorf("redisCAFile: %v", err)
		}
		if err := o.setCA(pem); err != nil {
			return o, err
		}
	}
	if o.timeout, err = time.ParseDuration(c.RedisTimeout); err != nil || o.timeout <= 0 {
		return o, fmt.Errorf("redisTimeout %q is not a positive Go duration (e.g. \"500ms\")", c.RedisTimeout)
	}
	if c.RedisPoolSize < 1 {
		return o, fmt.Errorf("redisPoolSize %d must be at least 1", c.RedisPoolSize)
	}
	o.poolSize = c.RedisPoolSize
	return o, nil
}

// tokenChars are the characters of an RFC 7230 token, as header and cookie names must be.
const tokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isToken(s string) bool { return s != "" && strings.Trim(s, tokenChars) == "" }
