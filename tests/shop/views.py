"""A product list like a host project's, to measure what the clips of a page cost, and a
product page that shows the product's featured clip."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from django_kling.site.clips import prefetch_clips

from .models import Product


def product_list(request: HttpRequest) -> HttpResponse:
    products = prefetch_clips(Product.objects.order_by("pk"))
    page = Paginator(products, 50).get_page(request.GET.get("page"))
    return render(request, "shop/product_list.html", {"page": page})


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    return render(request, "shop/product_detail.html", {"product": product})
