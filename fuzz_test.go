package sessionjwt

import (
	"strings"
	"testing"
	"time"
)

// `make fuzz` runs these; `make test` runs their seed corpora (testdata/fuzz) as ordinary tests.

func FuzzUnsign(f *testing.F) {
	plain, err := newSigner([]string{"k"}, "itsdangerous.Signer", "django-concat", "sha256", ".", 0)
	if err != nil {
		f.Fatal(err)
	}
	timed, err := newSigner([]string{"k"}, "itsdangerous.Signer", "django-concat", "sha256", ".", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1767225600, 0)
	f.Add(signForTest(plain, "0b9e8d52-3c3a-4f7e-9a57-7d4d1f6b2c11", 0))
	f.Add(signForTest(timed, "0b9e8d52-3c3a-4f7e-9a57-7d4d1f6b2c11", now.Unix()-10))
	f.Fuzz(func(t *testing.T, signed string) {
		if value, _, ok := unsign(plain, signed, now); ok {
			if signForTest(plain, value, 0) != signed {
				t.Fatalf("accepted %q, which is not the signature of %q", signed, value)
			}
		}
		if value, _, ok := unsign(timed, signed, now); ok {
			if !strings.HasPrefix(signed, value+".") {
				t.Fatalf("accepted %q for value %q", signed, value)
			}
			if _, _, ok := unsign(plain, signed, now); !ok {
				t.Fatalf("timestamped value %q has no valid outer signature", signed)
			}
		}
	})
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*2\r\n$1\r\na\r\n:2\r\n", "*-1\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := readerConn(string(in))
		reply, err := c.readReplyForTest()
		if err == nil && reply != nil {
			if b, ok := reply.([]byte); ok && len(b) > maxBulkLen {
				t.Fatalf("bulk of %d bytes beyond the limit", len(b))
			}
		}
	})
}
