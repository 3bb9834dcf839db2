# expect: compile error
if header :is :contains "subject" "x" { keep; }
