require ["variables", "fileinto"];
set :length "x" "hello";
fileinto "L${x}";
