# expect: compile error
fileinto "A";
