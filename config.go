package sessionjwt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	hasRequirements := len(reqs.scopes) > 0 || reqs.hasLevel || len(reqs.claims) > 0
	header := http.CanonicalHeaderKey(c.HeaderName)
	claimHeaders, err := newClaimHeaders(c, header)
	if err != nil {
		return nil, err
	}
	spoofable, err := spoofableHeaders(header, claimHeaders)
	if err != nil {
		return nil, err
	}

	refresh, err := refreshSettings(c)
	if err != nil {
		return nil, err
	}
	var cacheTTL time.Duration
	if c.CacheTTL != "" {
		if cacheTTL, err = positiveDuration("cacheTTL", c.CacheTTL, "10s"); err != nil {
			return nil, err
		}
		if c.CacheSize < 1 {
			return nil, fmt.Errorf("cacheSize %d must be at least 1", c.CacheSize)
		}
	}

	verifier, err := newJWTVerifier(&c.JWT)
	if err != nil {
		return nil, err
	}
	if c.BearerKeyPrefix != "" || verifier != nil {
		if !isToken(c.BearerScheme) {
			return nil, fmt.Errorf("bearerScheme %q is not a single word such as Bearer", c.BearerScheme)
		}
	}

	var storedVerifier *jwtVerifier
	if verifier != nil && verifier.verifyStored {
		storedVerifier = verifier
	}
	poolKey := store.poolKey()
	var cache *sessionCache
	if cacheTTL > 0 {
		// Middlewares share a cache when they read the same Redis and would cache the same sessions the
		// same way: the same header prefix (sessions hold the header value), cacheTTL (entries end at
		// it), and, when they verify stored JWTs, the same trust.
		identity := poolKey + "\x00" + valuePrefix + "\x00" + cacheTTL.String()
		if storedVerifier != nil {
			identity += "\x00verified by " + storedVerifier.trust
		}
		cache = sharedCache(identity, c.CacheSize, cacheTTL)
	}
	return &SessionJWT{
		cookieName:         c.CookieName,
		signer:             sig,
		verified:           newVerifiedCookies(),
		store:              sharedPool(store),
		redisTimeout:       int64(store.timeout),
		readsTTL:           refresh != nil || cache != nil,
		poolKey:            poolKey,
		keyPrefix:          c.RedisKeyPrefix,
		refresh:            refresh,
		verifier:           verifier,
		storedVerifier:     storedVerifier,
		bearerKeyPrefix:    c.BearerKeyPrefix,
		bearerScheme:       c.BearerScheme,
		cache:              cache,
		cacheTTL:           cacheTTL,
		header:             header,
		valuePrefix:        valuePrefix,
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
		checksClaims:       hasRequirements || claimHeaders != nil || refresh != nil,
		spoofable:          spoofable,
	}, nil
}

// refreshSettings validates the session refresh keys; nil without a refreshURL.
func refreshSettings(c *Config) (*refresher, error) {
	if c.RefreshURL == "" {
		return nil, nil
	}
	if !isServiceURL(c.RefreshURL) {
		// The value is not repeated: it might hold credentials.
		return nil, errors.New("refreshURL is not an absolute http(s) URL without credentials " +
			"(e.g. \"http://auth:8000/auth/v1/refresh\")")
	}
	below, err := positiveDuration("refreshBelow", c.RefreshBelow, "4h")
	if err != nil {
		return nil, err
	}
	timeout, err := positiveDuration("refreshTimeout", c.RefreshTimeout, "1s")
	if err != nil {
		return nil, err
	}
	return &refresher{url: c.RefreshURL, below: below, timeout: timeout}, nil
}

// positiveDuration parses the Go duration a key holds, which must be above zero.
func positiveDuration(key, value, example string) (time.Duration, error) {
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive Go duration (e.g. %q)", key, value, example)
	}
	return d, nil
}

// isServiceURL reports an absolute http(s) URL with a host and neither credentials nor a fragment.
func isServiceURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && isServiceAddress(u)
}

func isServiceAddress(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.Fragment == ""
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
	if o.timeout, err = positiveDuration("redisTimeout", c.RedisTimeout, "500ms"); err != nil {
		return o, err
	}
	if c.RedisPoolSize < 1 {
		return o, fmt.Errorf("redisPoolSize %d must be at least 1", c.RedisPoolSize)
	}
	o.poolSize = c.RedisPoolSize
	if o.idleTimeout, err = positiveDuration("redisIdleTimeout", c.RedisIdleTimeout, "1m"); err != nil {
		return o, err
	}
	return o, nil
}

// tokenChars are the characters of an RFC 7230 token, as header and cookie names must be.
const tokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isToken(s string) bool { return s != "" && strings.Trim(s, tokenChars) == "" }

// newJWTVerifier validates the jwt block; nil when it names no key source.
func newJWTVerifier(c *JWTConfig) (*jwtVerifier, error) {
	if len(c.JWKSURLs) == 0 && c.JWKS == "" && len(c.PublicKeys) == 0 && len(c.PublicKeyFiles) == 0 &&
		c.HMACSecret == "" && c.HMACSecretFile == "" {
		if c.VerifyStored {
			return nil, errors.New("jwt.verifyStored needs keys: set jwt.jwksURLs, jwt.jwks, jwt.publicKeys, jwt.publicKeyFiles or jwt.hmacSecret")
		}
		return nil, nil
	}
	v := &jwtVerifier{algorithms: map[string]bool{}, issuers: c.Issuers, audiences: c.Audiences, verifyStored: c.VerifyStored}
	trust := sha256.New()
	if err := json.NewEncoder(trust).Encode(c); err != nil {
		return nil, fmt.Errorf("jwt: %v", err)
	}
	for i, u := range c.JWKSURLs {
		if !isServiceURL(u) {
			return nil, fmt.Errorf("jwt.jwksURLs[%d] is not an absolute http(s) URL without credentials", i)
		}
		v.remote = append(v.remote, sharedJWKS(u))
	}
	if c.JWKS != "" {
		keys, err := parseJWKS([]byte(c.JWKS))
		if err != nil {
			return nil, fmt.Errorf("jwt.jwks: %v", err)
		}
		v.static = append(v.static, keys...)
	}
	for i, p := range c.PublicKeys {
		keys, err := parsePEMKeys([]byte(p), fmt.Sprintf("jwt.publicKeys[%d]", i))
		if err != nil {
			return nil, err
		}
		v.static = append(v.static, keys...)
	}
	for i, f := range c.PublicKeyFiles {
		name := fmt.Sprintf("jwt.publicKeyFiles[%d]", i)
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		trust.Write(data)
		keys, err := parsePEMKeys(data, name)
		if err != nil {
			return nil, err
		}
		v.static = append(v.static, keys...)
	}
	secret := c.HMACSecret
	if c.HMACSecretFile != "" {
		if secret != "" {
			return nil, errors.New("set only one of jwt.hmacSecret, jwt.hmacSecretFile")
		}
		var err error
		if secret, err = readSecretFile(c.HMACSecretFile, "jwt.hmacSecretFile"); err != nil {
			return nil, err
		}
	}
	if secret != "" && len(secret) < 32 {
		return nil, errors.New("jwt.hmacSecret must be at least 32 bytes (RFC 7518 asks for a key as long as the hash)")
	}
	v.hmacSecret = []byte(secret)
	trust.Write(v.hmacSecret)
	v.trust = hex.EncodeToString(trust.Sum(nil))

	// Default allow-list: every algorithm the configured keys can verify. HS* only with a secret, so a
	// public key can never be used as an HMAC secret.
	algorithms := c.Algorithms
	if len(algorithms) == 0 {
		hasPublicKeys := len(v.remote) > 0 || len(v.static) > 0
		for name, alg := range jwtAlgorithms {
			if alg.family == "HS" {
				if secret != "" {
					algorithms = append(algorithms, name)
				}
			} else if hasPublicKeys {
				algorithms = append(algorithms, name)
			}
		}
	}
	for i, name := range algorithms {
		alg, ok := jwtAlgorithms[name]
		if !ok {
			return nil, fmt.Errorf("jwt.algorithms[%d] %q is not one of RS256, RS384, RS512, PS256, PS384, PS512, "+
				"ES256, ES384, ES512, EdDSA, HS256, HS384, HS512", i, name)
		}
		if alg.family == "HS" && secret == "" {
			return nil, fmt.Errorf("jwt.algorithms[%d] %s needs jwt.hmacSecret", i, name)
		}
		v.algorithms[name] = true
	}
	leeway, err := time.ParseDuration(c.Leeway)
	if err != nil || leeway < 0 {
		return nil, fmt.Errorf("jwt.leeway %q is not a Go duration of at least 0 (e.g. \"30s\")", c.Leeway)
	}
	v.leeway = leeway
	if v.refresh, err = positiveDuration("jwt.jwksRefresh", c.JWKSRefresh, "1h"); err != nil {
		return nil, err
	}
	if v.minInterval, err = positiveDuration("jwt.jwksMinInterval", c.JWKSMinInterval, "1m"); err != nil {
		return nil, err
	}
	if v.timeout, err = positiveDuration("jwt.jwksTimeout", c.JWKSTimeout, "3s"); err != nil {
		return nil, err
	}
	return v, nil
}
