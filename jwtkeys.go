package sessionjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// The keys a jwtVerifier checks signatures with, and the algorithms it knows: keys from the jwt block
// (inline JWKS, PEM keys and certificates) and from JWKS URLs (jwks.go), picked for a token by its kid.

// jwtKey is one public key, from a JWKS or a PEM block.
type jwtKey struct {
	kid string // "" for PEM keys and JWKS keys without one
	alg string // the JWKS "alg", restricting the key to one algorithm; "" for none
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
	ed  ed25519.PublicKey
}

// keysFor returns the keys of p a token with kid may be signed with. An unknown kid makes the JWKS URLs be
// fetched again (at most once per minInterval each) before giving up. However many fetches it waits for,
// a request waits at most v.timeout in all.
func keysFor(v *jwtVerifier, p *jwtProvider, kid string, now time.Time) []jwtKey {
	deadline := now.Add(v.timeout)
	keys := matchingKeys(v, p, kid, now, deadline)
	if len(keys) > 0 || kid == "" || len(p.remote) == 0 {
		return keys
	}
	for _, c := range p.remote {
		refetch(c, v, now, deadline)
	}
	return matchingKeys(v, p, kid, now, deadline)
}

// hasKey reports whether any key at hand carries kid (or, for kid "", whether there is any key at all).
// It never fetches.
func hasKey(v *jwtVerifier, p *jwtProvider, kid string, now time.Time) bool {
	return len(matchingKeys(v, p, kid, now, time.Time{})) > 0
}

// matchingKeys collects the keys for kid; remote ones are fetched when needed, waiting until deadline at
// most (a zero deadline: only the keys at hand).
func matchingKeys(v *jwtVerifier, p *jwtProvider, kid string, now, deadline time.Time) []jwtKey {
	var out []jwtKey
	for _, k := range p.static {
		if kid == "" || k.kid == "" || k.kid == kid {
			out = append(out, k)
		}
	}
	for _, c := range p.remote {
		for _, k := range remoteKeys(c, v, now, deadline) {
			if kid == "" || k.kid == "" || k.kid == kid {
				out = append(out, k)
			}
		}
	}
	return out
}

// parseJWKS reads a JSON Web Key Set. Keys this gateway cannot use (private, symmetric, other curves,
// for encryption) are skipped; a set with no usable key is an error.
func parseJWKS(body []byte) ([]jwtKey, error) {
	var set struct {
		Keys []map[string]interface{} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS: %v", err)
	}
	var keys []jwtKey
	for _, jwk := range set.Keys {
		if k, ok := parseJWK(jwk); ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable public key in the JWKS")
	}
	return keys, nil
}

func parseJWK(jwk map[string]interface{}) (jwtKey, bool) {
	str := func(name string) string {
		s, _ := jwk[name].(string)
		return s
	}
	num := func(name string) *big.Int {
		b, err := b64url.DecodeString(str(name))
		if err != nil || len(b) == 0 {
			return nil
		}
		return new(big.Int).SetBytes(b)
	}
	k := jwtKey{kid: str("kid"), alg: str("alg")}
	if use := str("use"); use != "" && use != "sig" {
		return k, false
	}
	if str("d") != "" {
		return k, false // a private key has no business in a JWKS we fetch
	}
	switch str("kty") {
	case "RSA":
		n, e := num("n"), num("e")
		if n == nil || e == nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 || n.BitLen() < 2048 {
			return k, false
		}
		k.rsa = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC":
		var curve elliptic.Curve
		switch str("crv") {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return k, false
		}
		x, y := num("x"), num("y")
		if x == nil || y == nil || !curve.IsOnCurve(x, y) {
			return k, false
		}
		k.ec = &ecdsa.PublicKey{Curve: curve, X: x, Y: y}
	case "OKP":
		x, err := b64url.DecodeString(str("x"))
		if str("crv") != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return k, false
		}
		k.ed = ed25519.PublicKey(x)
	default:
		return k, false
	}
	return k, true
}

// parsePEMKeys reads public keys (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE blocks).
func parsePEMKeys(data []byte, name string) ([]jwtKey, error) {
	var keys []jwtKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub interface{}
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			return nil, fmt.Errorf("%s: a %s block is not a public key", name, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		var k jwtKey
		switch p := pub.(type) {
		case *rsa.PublicKey:
			k.rsa = p
		case *ecdsa.PublicKey:
			k.ec = p
		case ed25519.PublicKey:
			k.ed = p
		default:
			return nil, fmt.Errorf("%s: unsupported key type %T", name, pub)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no PEM public key", name)
	}
	return keys, nil
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
