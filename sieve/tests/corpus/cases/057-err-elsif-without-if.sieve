# expect: compile error
elsif true { keep; }
