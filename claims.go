package sessionjwt

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// decodeClaims reads the payload of a JWT found in our own Redis. Such a JWT is trusted as stored, so its
// signature is not checked here; it must still be a JWT whose payload is a JSON object, and it must not have
// expired; exp is returned too (0 when absent). Claims stay raw JSON, decoded only when a rule reads them, so numbers keep their exact spelling.
// (Decoding into a struct holding only exp is not cheaper under Yaegi, and encoding/json would match "EXP".)
func decodeClaims(jwt string, now time.Time) (map[string]json.RawMessage, float64, bool) {
	first := strings.IndexByte(jwt, '.')
	last := strings.LastIndexByte(jwt, '.')
	if first < 0 || first == last {
		return nil, 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(jwt[first+1:last], "="))
	if err != nil || len(payload) == 0 || payload[0] != '{' {
		return nil, 0, false
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil {
		return nil, 0, false
	}
	exp := 0.0
	if raw, ok := claims["exp"]; ok {
		// Usually a JSON number; claimNumber, which also reads strings, costs the interpreter more.
		if exp, err = strconv.ParseFloat(string(raw), 64); err != nil {
			exp, _ = claimNumber(raw) // 0 when it is not a number at all
		}
		if !(exp > float64(now.Unix())) {
			return nil, 0, false
		}
	}
	return claims, exp, true
}

// Decoding a payload costs the interpreter about as much as the rest of a request's own work, and a
// session's JWT is the same string request after request. decodedJWTs remembers the decoding of recent
// JWTs, keyed by the whole JWT, so that a repeated one costs one map lookup; its expiry is still compared
// with the clock on every request.
var (
	decodedMu   sync.RWMutex
	decodedJWTs = map[string]*decodedJWT{}
)

// decodedJWT is what decodeClaims read from a JWT.
type decodedJWT struct {
	claims  map[string]json.RawMessage // shared, never written after decoding
	expires int64                      // Unix nanoseconds from when exp has passed; noExpiry without exp
}

const (
	maxDecoded     = 4096 // when full, the map starts afresh; at most about 4096 x 2 x maxDecodedSize bytes
	maxDecodedSize = 4096 // longer JWTs are decoded every time
)

// rememberedClaims returns the decoding of a JWT decoded before, nil when there is none.
func rememberedClaims(jwt string) *decodedJWT {
	decodedMu.RLock()
	d := decodedJWTs[jwt]
	decodedMu.RUnlock()
	return d
}

// decodeAndRemember decodes a JWT (see decodeClaims) and remembers it; nil when it does not authenticate.
func decodeAndRemember(jwt string, now int64) *decodedJWT {
	claims, exp, ok := decodeClaims(jwt, time.Unix(0, now))
	if !ok {
		return nil
	}
	d := &decodedJWT{claims: claims, expires: expiresAt(exp)}
	if len(jwt) <= maxDecodedSize {
		decodedMu.Lock()
		if len(decodedJWTs) >= maxDecoded {
			decodedJWTs = map[string]*decodedJWT{}
		}
		decodedJWTs[jwt] = d
		decodedMu.Unlock()
	}
	return d
}

// expiresAt converts a JWT's exp (Unix seconds, 0 when absent) into the first Unix nanosecond at which it
// has passed: as decodeClaims counts, a JWT is valid while the current whole second is before exp.
func expiresAt(exp float64) int64 {
	if exp == 0 || exp >= float64(noExpiry/int64(time.Second)) {
		return noExpiry
	}
	return int64(math.Ceil(exp)) * int64(time.Second)
}

// claimNumber reads a claim that holds a number, written as a JSON number or as a string ("3.1").
func claimNumber(raw json.RawMessage) (float64, bool) {
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// claimStrings reads a claim as a list of strings: a string, number or boolean is a list of one (numbers as
// written in the token), an array of such values is their list. Objects and nulls read as nothing.
func claimStrings(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		return []string{s}
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return nil
		}
		var out []string
		for _, e := range list {
			if len(e) > 0 && e[0] != '[' {
				out = append(out, claimStrings(e)...)
			}
		}
		return out
	case '{':
		return nil
	case 'n':
		return nil
	}
	return []string{string(raw)}
}

// scopesOf returns the granted scopes: the "scopes" claim, or else "scope", each as an array or as a
// string separated by commas or spaces (the apijwt2 auth service joins them with commas, OAuth with
// spaces).
func scopesOf(claims map[string]json.RawMessage) []string {
	raw, ok := claims["scopes"]
	if !ok {
		raw = claims["scope"]
	}
	list := claimStrings(raw)
	if len(raw) > 0 && raw[0] == '"' && len(list) == 1 {
		return strings.Fields(strings.ReplaceAll(list[0], ",", " "))
	}
	return list
}
