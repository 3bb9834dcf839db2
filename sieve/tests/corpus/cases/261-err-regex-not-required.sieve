# expect: compile error
if header :regex "subject" "x" { keep; }
