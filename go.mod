module github.com/sessionjwt/sessionjwt

go 1.22
