# expect: compile error
if header :frob "subject" "x" { keep; }
