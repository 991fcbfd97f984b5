module github.com/sessionjwt/sessionjwt/demo/browser

go 1.22
