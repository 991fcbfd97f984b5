package sessionjwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	// The hash functions JWT algorithms name (crypto/sha256 is imported above); imported so that
	// crypto.SHA*.New works.
	_ "crypto/sha512"
)

// JWT verification for tokens that clients present (and, optionally, JWTs found in Redis): signature
// by a configured key under an allowed algorithm, then exp (required), nbf, iat, iss and aud.
// Everything is decoded into maps and plain values: Yaegi cannot run custom UnmarshalJSON methods.

// jwtVerifier is the jwt block of one middleware, ready to use: its identity providers and what they
// share.
type jwtVerifier struct {
	// providers are jwt.providers in name order, or the flat keys as the one provider. A token is valid
	// when one provider's keys verify it and the same provider's issuer and audiences match.
	providers []*jwtProvider
	// byIssuer: with jwt.providers a token goes to the providers of its iss only, so that no provider's
	// JWKS is fetched for another's tokens. The flat keys check the signature first, as they always did.
	byIssuer     bool
	leeway       time.Duration
	verifyStored bool
	// trust identifies the configuration and key material this verifier trusts: middlewares that verify
	// stored JWTs share cached sessions only with middlewares that trust exactly the same.
	trust string

	refresh     time.Duration // refetch a JWKS this old, in the background
	minInterval time.Duration // never fetch one URL more often than this
	timeout     time.Duration // bound on one fetch, and on how long a request waits for one
}

// jwtProvider is one identity provider: its keys, the algorithms they may verify, and the issuers and
// audiences its tokens must name.
type jwtProvider struct {
	algorithms map[string]bool
	static     []jwtKey // inline JWKS and PEM keys
	hmacSecret []byte
	remote     []*jwksCache // one per jwksURLs entry, or the issuer's discovery; shared at package level
	issuers    []string
	audiences  []string
}

// providerSettings are one provider's keys in the jwt block, the flat ones or one of jwt.providers.
type providerSettings struct {
	prefix         string // how errors name its keys: "jwt." or "jwt.providers.<name>."
	jwksURLs       []string
	jwks           string
	publicKeys     []string
	publicKeyFiles []string
	hmacSecret     string
	hmacSecretFile string
	algorithms     []string
	issuers        []string
	audiences      []string
	discover       bool // no key source but an issuer: its keys come by OpenID Connect discovery
}

// hasFlatKeys reports whether the jwt block sets any of the keys a provider in jwt.providers has.
func hasFlatKeys(c *JWTConfig) bool {
	return len(c.JWKSURLs) > 0 || c.JWKS != "" || len(c.PublicKeys) > 0 || len(c.PublicKeyFiles) > 0 ||
		c.HMACSecret != "" || c.HMACSecretFile != "" || len(c.Algorithms) > 0 || len(c.Issuers) > 0 ||
		len(c.Audiences) > 0
}

// newJWTVerifier validates the jwt block; nil when it names no key source and no provider.
func newJWTVerifier(c *JWTConfig) (*jwtVerifier, error) {
	var list []providerSettings
	if len(c.Providers) > 0 {
		if hasFlatKeys(c) {
			return nil, errors.New("set either jwt.providers or the keys of one provider in the jwt block " +
				"(jwksURLs, jwks, publicKeys, publicKeyFiles, hmacSecret, hmacSecretFile, algorithms, issuers, audiences)")
		}
		names := make([]string, 0, len(c.Providers))
		for name := range c.Providers {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			p := c.Providers[name]
			prefix := "jwt.providers." + name + "."
			if p.Issuer == "" {
				return nil, fmt.Errorf("%sissuer is required: a provider's keys verify only tokens it issued", prefix)
			}
			hasKeys := len(p.JWKSURLs) > 0 || p.JWKS != "" || len(p.PublicKeys) > 0 || len(p.PublicKeyFiles) > 0 ||
				p.HMACSecret != "" || p.HMACSecretFile != ""
			if !hasKeys && !isDiscoverableIssuer(p.Issuer) {
				return nil, fmt.Errorf("%sissuer %q is not an http(s) URL without credentials, query or fragment, "+
					"so its keys cannot be discovered: give jwksURLs, jwks, publicKeys, publicKeyFiles or hmacSecret", prefix, p.Issuer)
			}
			list = append(list, providerSettings{prefix: prefix, jwksURLs: p.JWKSURLs, jwks: p.JWKS,
				publicKeys: p.PublicKeys, publicKeyFiles: p.PublicKeyFiles, hmacSecret: p.HMACSecret,
				hmacSecretFile: p.HMACSecretFile, algorithms: p.Algorithms, issuers: []string{p.Issuer},
				audiences: p.Audiences, discover: !hasKeys})
		}
	} else {
		if len(c.JWKSURLs) == 0 && c.JWKS == "" && len(c.PublicKeys) == 0 && len(c.PublicKeyFiles) == 0 &&
			c.HMACSecret == "" && c.HMACSecretFile == "" {
			if c.VerifyStored {
				return nil, errors.New("jwt.verifyStored needs keys: set jwt.providers, jwt.jwksURLs, jwt.jwks, jwt.publicKeys, jwt.publicKeyFiles or jwt.hmacSecret")
			}
			return nil, nil
		}
		list = append(list, providerSettings{prefix: "jwt.", jwksURLs: c.JWKSURLs, jwks: c.JWKS,
			publicKeys: c.PublicKeys, publicKeyFiles: c.PublicKeyFiles, hmacSecret: c.HMACSecret,
			hmacSecretFile: c.HMACSecretFile, algorithms: c.Algorithms, issuers: c.Issuers, audiences: c.Audiences})
	}
	v := &jwtVerifier{verifyStored: c.VerifyStored, byIssuer: len(c.Providers) > 0}
	trust := sha256.New()
	if err := json.NewEncoder(trust).Encode(c); err != nil {
		return nil, fmt.Errorf("jwt: %v", err)
	}
	for _, ps := range list {
		p, err := newJWTProvider(ps, trust)
		if err != nil {
			return nil, err
		}
		v.providers = append(v.providers, p)
	}
	v.trust = hex.EncodeToString(trust.Sum(nil))
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

// newJWTProvider validates one provider's keys, adding the key material read from files and the HMAC
// secret to trust.
func newJWTProvider(ps providerSettings, trust hash.Hash) (*jwtProvider, error) {
	p := &jwtProvider{algorithms: map[string]bool{}, issuers: ps.issuers, audiences: ps.audiences}
	for i, u := range ps.jwksURLs {
		if !isServiceURL(u) {
			return nil, fmt.Errorf("%sjwksURLs[%d] is not an absolute http(s) URL without credentials", ps.prefix, i)
		}
		p.remote = append(p.remote, sharedJWKS(u, ""))
	}
	if ps.discover {
		p.remote = append(p.remote, sharedJWKS(discoveryURL(ps.issuers[0]), ps.issuers[0]))
	}
	if ps.jwks != "" {
		keys, err := parseJWKS([]byte(ps.jwks))
		if err != nil {
			return nil, fmt.Errorf("%sjwks: %v", ps.prefix, err)
		}
		p.static = append(p.static, keys...)
	}
	for i, pem := range ps.publicKeys {
		keys, err := parsePEMKeys([]byte(pem), fmt.Sprintf("%spublicKeys[%d]", ps.prefix, i))
		if err != nil {
			return nil, err
		}
		p.static = append(p.static, keys...)
	}
	for i, f := range ps.publicKeyFiles {
		name := fmt.Sprintf("%spublicKeyFiles[%d]", ps.prefix, i)
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		trust.Write(data)
		keys, err := parsePEMKeys(data, name)
		if err != nil {
			return nil, err
		}
		p.static = append(p.static, keys...)
	}
	secret := ps.hmacSecret
	if ps.hmacSecretFile != "" {
		if secret != "" {
			return nil, fmt.Errorf("set only one of %shmacSecret, %shmacSecretFile", ps.prefix, ps.prefix)
		}
		var err error
		if secret, err = readSecretFile(ps.hmacSecretFile, ps.prefix+"hmacSecretFile"); err != nil {
			return nil, err
		}
	}
	if secret != "" && len(secret) < 32 {
		return nil, fmt.Errorf("%shmacSecret must be at least 32 bytes (RFC 7518 asks for a key as long as the hash)", ps.prefix)
	}
	p.hmacSecret = []byte(secret)
	trust.Write(p.hmacSecret)

	// Default allow-list: every algorithm the provider's keys can verify. HS* only with a secret, so a
	// public key can never be used as an HMAC secret.
	algorithms := ps.algorithms
	if len(algorithms) == 0 {
		hasPublicKeys := len(p.remote) > 0 || len(p.static) > 0
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
			return nil, fmt.Errorf("%salgorithms[%d] %q is not one of RS256, RS384, RS512, PS256, PS384, PS512, "+
				"ES256, ES384, ES512, EdDSA, HS256, HS384, HS512", ps.prefix, i, name)
		}
		if alg.family == "HS" && secret == "" {
			return nil, fmt.Errorf("%salgorithms[%d] %s needs %shmacSecret", ps.prefix, i, name, ps.prefix)
		}
		p.algorithms[name] = true
	}
	return p, nil
}

// maxJWTSize bounds what is even looked at: larger tokens are refused before any decoding.
const maxJWTSize = 16 << 10

// Reason codes of a refused JWT, given in the 401 answer.
const (
	reasonMalformed   = "malformed"
	reasonAlgorithm   = "unsupported_algorithm"
	reasonUnknownKey  = "unknown_key"
	reasonSignature   = "invalid_signature"
	reasonExpired     = "expired"
	reasonNotYetValid = "not_yet_valid"
	reasonIssuer      = "invalid_issuer"
	reasonAudience    = "invalid_audience"
)

var b64url = base64.RawURLEncoding.Strict()

// verifyJWT returns the claims of token when one provider verifies it, else nil claims and a reason
// code: with several providers, the reason of the one that got furthest.
func verifyJWT(v *jwtVerifier, token string, now time.Time) (map[string]json.RawMessage, string) {
	if len(token) > maxJWTSize || strings.Count(token, ".") != 2 {
		return nil, reasonMalformed
	}
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	header, ok := decodeJSONObject(token[:first])
	if !ok {
		return nil, reasonMalformed
	}
	sig, err := b64url.DecodeString(token[last+1:])
	if err != nil {
		return nil, reasonMalformed
	}
	name, _ := jsonString(header["alg"])
	kid, _ := jsonString(header["kid"])
	_, critical := header["crit"]
	t := &signedToken{alg: name, kid: kid, critical: critical, signed: token[:last], sig: sig, payload: token[first+1 : last]}
	if !v.byIssuer {
		return verifyByProvider(v, v.providers[0], t, now)
	}
	if t.claims, ok = decodeJSONObject(t.payload); !ok {
		return nil, reasonMalformed
	}
	iss, _ := jsonString(t.claims["iss"])
	best := reasonIssuer // no provider issues tokens for iss
	for _, p := range v.providers {
		if !contains(p.issuers, iss) {
			continue
		}
		claims, reason := verifyByProvider(v, p, t, now)
		if reason == "" {
			return claims, ""
		}
		if best == reasonIssuer || !signatureReason(reason) {
			best = reason
		}
	}
	return nil, best
}

// signedToken is a JWT split into what the providers check.
type signedToken struct {
	alg, kid string
	critical bool   // the header has crit
	signed   string // header.payload, what the signature covers
	sig      []byte
	payload  string
	claims   map[string]json.RawMessage // decoded from payload when a provider was chosen by iss
}

// signatureReason reports a reason given before the claims were looked at.
func signatureReason(reason string) bool {
	return reason == reasonAlgorithm || reason == reasonUnknownKey || reason == reasonSignature
}

// verifyByProvider checks t against one provider: algorithm, signature by its keys, then the claims.
func verifyByProvider(v *jwtVerifier, p *jwtProvider, t *signedToken, now time.Time) (map[string]json.RawMessage, string) {
	alg, known := jwtAlgorithms[t.alg]
	if !known || !p.algorithms[t.alg] {
		return nil, reasonAlgorithm
	}
	if t.critical {
		return nil, reasonMalformed // no extension is understood here, so none may be required
	}
	if !verifySignature(v, p, alg, t, now) {
		if alg.family != "HS" && !hasKey(v, p, t.kid, now) {
			return nil, reasonUnknownKey
		}
		return nil, reasonSignature
	}
	claims := t.claims
	if claims == nil {
		var ok bool
		if claims, ok = decodeJSONObject(t.payload); !ok {
			return nil, reasonMalformed
		}
	}
	if reason := checkRegisteredClaims(v, p, claims, now); reason != "" {
		return nil, reason
	}
	return claims, ""
}

// decodeJSONObject decodes one base64url segment holding a JSON object.
func decodeJSONObject(segment string) (map[string]json.RawMessage, bool) {
	raw, err := b64url.DecodeString(segment)
	if err != nil || len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	return m, true
}

func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// verifySignature checks t's signature with p's keys fit for alg: the HMAC secret for HS*, else the
// public keys of the right type (with the token's kid when it names one).
func verifySignature(v *jwtVerifier, p *jwtProvider, alg jwtAlgorithm, t *signedToken, now time.Time) bool {
	if alg.family == "HS" {
		if len(p.hmacSecret) == 0 {
			return false
		}
		mac := hmac.New(alg.hash.New, p.hmacSecret)
		mac.Write([]byte(t.signed))
		return hmac.Equal(mac.Sum(nil), t.sig)
	}
	var digest []byte
	if alg.family != "EdDSA" {
		h := alg.hash.New()
		h.Write([]byte(t.signed))
		digest = h.Sum(nil)
	}
	for _, k := range keysFor(v, p, t.kid, now) {
		if k.alg != "" && k.alg != t.alg {
			continue
		}
		if verifyWithKey(alg, k, t.signed, digest, t.sig) {
			return true
		}
	}
	return false
}

// verifyWithKey checks one key, of the type alg needs only: an RSA key never verifies an HMAC or an EC
// signature, and so on, whatever the token's header says.
func verifyWithKey(alg jwtAlgorithm, k jwtKey, signed string, digest, sig []byte) bool {
	switch alg.family {
	case "RS":
		return k.rsa != nil && rsa.VerifyPKCS1v15(k.rsa, alg.hash, digest, sig) == nil
	case "PS":
		return k.rsa != nil && rsa.VerifyPSS(k.rsa, alg.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case "ES":
		if k.ec == nil || k.ec.Curve != alg.curve || len(sig) != 2*alg.size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:alg.size])
		s := new(big.Int).SetBytes(sig[alg.size:])
		return ecdsa.Verify(k.ec, digest, r, s)
	case "EdDSA":
		return k.ed != nil && ed25519.Verify(k.ed, []byte(signed), sig)
	}
	return false
}

// checkRegisteredClaims checks exp (required), nbf and iat with the leeway, then p's iss and aud.
func checkRegisteredClaims(v *jwtVerifier, p *jwtProvider, claims map[string]json.RawMessage, now time.Time) string {
	t := float64(now.Unix())
	leeway := v.leeway.Seconds()
	exp, ok := numericDate(claims["exp"])
	if !ok {
		return reasonMalformed
	}
	if !(exp > t-leeway) {
		return reasonExpired
	}
	if raw, present := claims["nbf"]; present {
		nbf, ok := numericDate(raw)
		if !ok || nbf > t+leeway {
			return reasonNotYetValid
		}
	}
	if raw, present := claims["iat"]; present {
		iat, ok := numericDate(raw)
		if !ok || iat > t+leeway {
			return reasonNotYetValid
		}
	}
	if len(p.issuers) > 0 {
		iss, _ := jsonString(claims["iss"])
		if !contains(p.issuers, iss) {
			return reasonIssuer
		}
	}
	if len(p.audiences) > 0 {
		found := false
		for _, aud := range claimStrings(claims["aud"]) {
			if contains(p.audiences, aud) {
				found = true
				break
			}
		}
		if !found {
			return reasonAudience
		}
	}
	return ""
}

// numericDate reads a JSON number (RFC 7519's NumericDate); a string is not one.
func numericDate(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 || raw[0] == '"' {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, err == nil
}
