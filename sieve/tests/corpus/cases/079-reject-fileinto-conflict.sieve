# expect: runtime error
require ["reject", "fileinto"];
fileinto "A";
reject "no";
