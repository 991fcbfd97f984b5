package yaegilint

import "testing"

func TestPluginHasNoSilentYaegiPitfalls(t *testing.T) {
	findings, err := Check("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Error(f)
	}
}

func TestCheckFindsEveryPitfall(t *testing.T) {
	findings, err := Check("testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 3 {
		t.Fatalf("findings = %q, want the tagless case and the two tuple assignments", findings)
	}
}
