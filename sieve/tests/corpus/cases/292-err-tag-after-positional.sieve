# expect: compile error
require ["fileinto", "copy"];
fileinto "X" :copy;
