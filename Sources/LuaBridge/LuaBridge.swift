import CLua
import Runtime
import Model
