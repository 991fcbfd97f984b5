package bad

func tagless(r rune) bool {
	switch {
	case r > 'a', r < 'b':
		return true
	}
	return false
}

func tuple() string {
	var o struct{ a, b string }
	o.a, o.b = "x", g()
	return o.a
}

func fine() (string, error) {
	var o struct{ a string }
	var err error
	o.a, err = two() // one call with two results is fine
	return o.a, err
}

func g() string            { return "" }
func two() (string, error) { return "", nil }

func locals() (int, string) {
	var n int
	var s string
	n, s = len(g()), "lost" // s stays "" under Yaegi
	return n, s
}
