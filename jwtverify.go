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
	"math/big"
	"os"
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

// jwtVerifier is the jwt block of one middleware, ready to use.
type jwtVerifier struct {
	algorithms   map[string]bool
	static       []jwtKey // inline JWKS and PEM keys
	hmacSecret   []byte
	remote       []*jwksCache // one per jwksURLs entry, shared at package level
	issuers      []string
	audiences    []string
	leeway       time.Duration
	verifyStored bool
	// trust identifies the configuration and key material this verifier trusts: middlewares that verify
	// stored JWTs share cached sessions only with middlewares that trust exactly the same.
	trust string

	refresh     time.Duration // refetch a JWKS this old, in the background
	minInterval time.Duration // never fetch one URL more often than this
	timeout     time.Duration // bound on one fetch, and on how long a request waits for one
}

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

// verifyJWT returns the claims of token when it verifies, else "" claims and a reason code.
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
	name, ok := jsonString(header["alg"])
	alg, known := jwtAlgorithms[name]
	if !ok || !known || !v.algorithms[name] {
		return nil, reasonAlgorithm
	}
	if _, critical := header["crit"]; critical {
		return nil, reasonMalformed // no extension is understood here, so none may be required
	}
	kid, _ := jsonString(header["kid"])
	signed := token[:last]
	if !verifySignature(v, alg, name, kid, signed, sig, now) {
		if alg.family != "HS" && !hasKey(v, kid, now) {
			return nil, reasonUnknownKey
		}
		return nil, reasonSignature
	}
	claims, ok := decodeJSONObject(token[first+1 : last])
	if !ok {
		return nil, reasonMalformed
	}
	if reason := checkRegisteredClaims(v, claims, now); reason != "" {
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

// verifySignature checks sig over signed with the keys fit for alg: the HMAC secret for HS*, else the
// public keys of the right type (with the token's kid when it names one).
func verifySignature(v *jwtVerifier, alg jwtAlgorithm, name, kid, signed string, sig []byte, now time.Time) bool {
	if alg.family == "HS" {
		if len(v.hmacSecret) == 0 {
			return false
		}
		mac := hmac.New(alg.hash.New, v.hmacSecret)
		mac.Write([]byte(signed))
		return hmac.Equal(mac.Sum(nil), sig)
	}
	var digest []byte
	if alg.family != "EdDSA" {
		h := alg.hash.New()
		h.Write([]byte(signed))
		digest = h.Sum(nil)
	}
	for _, k := range keysFor(v, kid, now) {
		if k.alg != "" && k.alg != name {
			continue
		}
		if verifyWithKey(alg, k, signed, digest, sig) {
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

// checkRegisteredClaims checks exp (required), nbf and iat with the leeway, then iss and aud.
func checkRegisteredClaims(v *jwtVerifier, claims map[string]json.RawMessage, now time.Time) string {
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
	if len(v.issuers) > 0 {
		iss, _ := jsonString(claims["iss"])
		if !contains(v.issuers, iss) {
			return reasonIssuer
		}
	}
	if len(v.audiences) > 0 {
		found := false
		for _, aud := range claimStrings(claims["aud"]) {
			if contains(v.audiences, aud) {
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
