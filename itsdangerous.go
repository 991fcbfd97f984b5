package sessionjwt

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// This file verifies values signed by Python's itsdangerous (2.x) Signer and TimestampSigner:
//
//	Signer:          value + sep + b64(HMAC(key, value))
//	TimestampSigner: value + sep + b64(ts) + sep + b64(HMAC(key, value + sep + b64(ts)))
//
// where b64 is URL-safe base64 without padding and key is derived from each secret once, in New.

// digests maps the signatureAlgorithm names to hash constructors: hashlib's names for the digests the
// standard library that Yaegi exposes has. SHA-3 and BLAKE2 are not among them.
var digests = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

// keyDerivations are itsdangerous' key_derivation modes.
var keyDerivations = []string{"concat", "django-concat", "hmac", "none"}

// b64 is itsdangerous' encoding. Strict mode rejects non-canonical trailing bits, which genuine
// signatures never have, so one signature has exactly one accepted spelling.
var b64 = base64.RawURLEncoding.Strict()

// b64Alphabet holds the characters a separator must not contain (itsdangerous refuses them too).
const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="

// futureSkew is how far in the future a timestamp may lie before it is refused (clock skew between hosts).
const futureSkew = 5

// signer verifies itsdangerous signatures. It is immutable after newSigner and safe for concurrent use.
type signer struct {
	newHash func() hash.Hash
	keys    [][]byte // derived keys, newest secret first: itsdangerous tries reversed(secret_keys)
	sep     string
	sigLen  int // length of an encoded signature; anything else is refused before decoding

	timestamped bool
	maxAge      int64 // seconds, for timestamped signers
}

// newSigner derives the keys for secrets (oldest first, as itsdangerous takes them).
func newSigner(secrets []string, salt, derivation, digest, sep string, maxAge time.Duration) (*signer, error) {
	newHash, ok := digests[digest]
	if !ok {
		return nil, fmt.Errorf("signatureAlgorithm %q is not one of md5, sha1, sha224, sha256, sha384, sha512 "+
			"(hashlib's SHA-3 and BLAKE2 are not in the standard library Traefik's plugins can use)", digest)
	}
	if sep == "" || strings.ContainsAny(sep, b64Alphabet) {
		return nil, fmt.Errorf("separator %q must be non-empty and contain no ASCII letters, digits or '-_='", sep)
	}
	if len(secrets) == 0 {
		return nil, errors.New("no secret key")
	}
	s := &signer{newHash: newHash, sep: sep, sigLen: b64.EncodedLen(newHash().Size())}
	for i := len(secrets) - 1; i >= 0; i-- {
		key, err := deriveKey(newHash, derivation, salt, secrets[i])
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, key)
	}
	if maxAge > 0 {
		s.timestamped = true
		s.maxAge = int64(maxAge / time.Second)
	}
	return s, nil
}

func deriveKey(newHash func() hash.Hash, derivation, salt, secret string) ([]byte, error) {
	switch derivation {
	case "concat":
		h := newHash()
		h.Write([]byte(salt + secret))
		return h.Sum(nil), nil
	case "django-concat":
		h := newHash()
		h.Write([]byte(salt + "signer" + secret))
		return h.Sum(nil), nil
	case "hmac":
		h := hmac.New(newHash, []byte(secret))
		h.Write([]byte(salt))
		return h.Sum(nil), nil
	case "none":
		return []byte(secret), nil
	}
	return nil, fmt.Errorf("keyDerivation %q is not one of %s", derivation, strings.Join(keyDerivations, ", "))
}

// unsign returns the value that signed carries when its signature is valid under any key and, for a
// timestamped signer, its timestamp is neither older than maxAge nor more than futureSkew in the future;
// then also the timestamp (0 for a plain signer).
// It runs on every request, so it is a plain function with few statements (docs/yaegi.md).
func unsign(s *signer, signed string, now time.Time) (string, int64, bool) {
	i := strings.LastIndex(signed, s.sep)
	if i < 0 || len(signed)-i-len(s.sep) != s.sigLen {
		return "", 0, false
	}
	mac, err := b64.DecodeString(signed[i+len(s.sep):])
	if err != nil {
		return "", 0, false
	}
	value := signed[:i]
	msg := []byte(value)
	valid := false
	for _, key := range s.keys {
		h := hmac.New(s.newHash, key)
		h.Write(msg)
		if hmac.Equal(h.Sum(nil), mac) {
			valid = true
			break
		}
	}
	if !valid {
		return "", 0, false
	}
	if !s.timestamped {
		return value, 0, true
	}
	j := strings.LastIndex(value, s.sep)
	if j < 0 {
		return "", 0, false
	}
	ts, ok := decodeTimestamp(value[j+len(s.sep):])
	if !ok {
		return "", 0, false
	}
	age := now.Unix() - ts
	if age > s.maxAge || age < -futureSkew {
		return "", 0, false
	}
	return value[:j], ts, true
}

// decodeTimestamp reads itsdangerous' timestamp: a big-endian integer with leading zero bytes removed.
func decodeTimestamp(enc string) (int64, bool) {
	raw, err := b64.DecodeString(enc)
	if err != nil || len(raw) > 8 {
		return 0, false
	}
	var ts uint64
	for _, b := range raw {
		ts = ts<<8 | uint64(b)
	}
	if ts > 1<<62 {
		return 0, false // far beyond any clock; keeps now-ts from overflowing
	}
	return int64(ts), true
}
