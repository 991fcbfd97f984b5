package sessionjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"

	// The hash functions JWT algorithms name; imported so crypto.SHA*.New works.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// JWT verification for tokens that clients present (and, optionally, JWTs found in Redis): signature
// by a configured key under an allowed algorithm, then exp (required), nbf, iat, iss and aud.
// Everything is decoded into maps and plain values: Yaegi cannot run custom UnmarshalJSON methods.

// jwtKey is one public key, from a JWKS or a PEM block.
type jwtKey struct {
	kid string // "" for PEM keys and JWKS keys without one
	alg string // the JWKS "alg", restricting the key to one algorithm; "" for none
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
	ed  ed25519.PublicKey
}

// jwtAlgorithm describes one supported "alg".
type jwtAlgorithm struct {
	family string // "RS", "PS", "ES", "EdDSA" or "HS"
	hash   crypto.Hash
	curve  elliptic.Curve // ES only
	size   int            // ES only: bytes of r and of s
}

var jwtAlgorithms = map[string]jwtAlgorithm{
	"RS256": {family: "RS", hash: crypto.SHA256},
	"RS384": {family: "RS", hash: crypto.SHA384},
	"RS512": {family: "RS", hash: crypto.SHA512},
	"PS256": {family: "PS", hash: crypto.SHA256},
	"PS384": {family: "PS", hash: crypto.SHA384},
	"PS512": {family: "PS", hash: crypto.SHA512},
	"ES256": {family: "ES", hash: crypto.SHA256, curve: elliptic.P256(), size: 32},
	"ES384": {family: "ES", hash: crypto.SHA384, curve: elliptic.P384(), size: 48},
	"ES512": {family: "ES", hash: crypto.SHA512, curve: elliptic.P521(), size: 66},
	"EdDSA": {family: "EdDSA"},
	"HS256": {family: "HS", hash: crypto.SHA256},
	"HS384": {family: "HS", hash: crypto.SHA384},
	"HS512": {family: "HS", hash: crypto.SHA512},
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
