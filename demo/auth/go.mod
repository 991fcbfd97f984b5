module github.com/sessionjwt/sessionjwt/demo/auth

go 1.22
