package sessionjwt

import (
	"strings"
	"testing"
)

func TestHeaderSafe(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{testJWT, true},
		{"a b", true},
		{"", false},
		{"a\r\nb", false},
		{"a\nb", false},
		{"tab\there", false},
		{"nul\x00", false},
		{"del\x7f", false},
		{"é", false},
		{"\xff", false},
		{strings.Repeat("x", 100) + "\x01", false},
		{"~ !", true},
		{"a\x80", false},
	}
	for _, tt := range tests {
		if got := headerSafe(tt.v); got != tt.want {
			t.Errorf("headerSafe(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestPrintableASCIIIsSpaceToTilde(t *testing.T) {
	want := ""
	for c := 0x20; c <= 0x7e; c++ {
		want += string(rune(c))
	}
	if printableASCII != want {
		t.Fatalf("printableASCII = %q", printableASCII)
	}
}
