package sessionjwt

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Small helpers that several parts share: what a header value, a token, a duration, a service URL and a
// secret file must look like.

// printableASCII is every byte a forwarded header value may hold: space to tilde.
const printableASCII = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"

// headerSafe reports whether v is one non-empty line of printable ASCII, in one compiled call rather than
// an interpreted byte loop.
func headerSafe(v string) bool {
	return v != "" && strings.Trim(v, printableASCII) == ""
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// controlChars may not appear in a forwarded header value.
const controlChars = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"

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

// tokenChars are the characters of an RFC 7230 token, as header and cookie names must be.
const tokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isToken(s string) bool { return s != "" && strings.Trim(s, tokenChars) == "" }

// urlErrorCause drops the method and URL an *url.Error repeats; the log line already says what failed.
func urlErrorCause(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
